// A pending box's stored record decodes to its fields, under the hash field's ID; anything else is not one.
import t from 'tap';
import { decodePendingBox } from '../../src/enrolment/store.js';

t.test('pending records decode, or are refused', async (t) => {
  t.same(decodePendingBox('box-p', '{"ID":"box-ignored","SEEN":12,"IP":"192.0.2.4","REASON":"not enrolled","FINGERPRINT":"ab:cd"}'), {
    ID: 'box-p', SEEN: 12, IP: '192.0.2.4', REASON: 'not enrolled', FINGERPRINT: 'ab:cd',
  }, 'the ID comes from the hash field');
  t.same(decodePendingBox('box-p', '{"SEEN":12,"IP":"192.0.2.4","REASON":"x","FINGERPRINT":7}'), { ID: 'box-p', SEEN: 12, IP: '192.0.2.4', REASON: 'x' }, 'a fingerprint of the wrong type is left out');
  t.equal(decodePendingBox('box-p', 'not json'), undefined);
  t.equal(decodePendingBox('box-p', '{"SEEN":"now","IP":"192.0.2.4","REASON":"x"}'), undefined);
  t.equal(decodePendingBox('box-p', '{"SEEN":1,"REASON":"x"}'), undefined, 'no IP');
});
