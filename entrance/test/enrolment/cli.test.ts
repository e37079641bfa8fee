// The enrolment CLI checks its words and options before connecting to Redis: unknown commands, missing
// or malformed IDs and bad token limits are UsageErrors naming what was wrong.
import t from 'tap';
import { UsageError } from '../../../shared/src/cli.js';
import { parseEnrolmentCommand } from '../../src/enrolment/cli.js';

t.test('well-formed commands become typed requests', async (t) => {
  t.same(parseEnrolmentCommand(['token', 'create'], { expires: '30d', uses: '5', note: 'rack 3', json: true }), { command: 'token create', json: true, expires: 30 * 86400, uses: 5, note: 'rack 3' });
  t.same(parseEnrolmentCommand(['token', 'create'], {}), { command: 'token create', json: false, expires: 7 * 86400, uses: 1, note: '' }, 'defaults: 7 days, one use');
  t.same(parseEnrolmentCommand(['box', 'list'], {}), { command: 'box list', json: false, expires: 0, uses: 0, note: '' });
  t.same(parseEnrolmentCommand(['box', 'revoke', 'box-abc'], { json: true }), { command: 'box revoke', json: true, id: 'box-abc' });
  t.same(parseEnrolmentCommand(['token', 'revoke', 'tok123'], {}), { command: 'token revoke', json: false, id: 'tok123' });
  t.same(parseEnrolmentCommand(['box', 'approve', 'box-abc'], { fingerprint: 'SHA256:abc' }), { command: 'box approve', json: false, id: 'box-abc', fingerprint: 'SHA256:abc' });
  t.same(parseEnrolmentCommand(['box', 'approve', 'box-abc'], {}), { command: 'box approve', json: false, id: 'box-abc' }, 'the fingerprint is optional');
});

t.test('malformed commands are usage errors that say what is wrong', async (t) => {
  const refused = (words: string[], values: Record<string, unknown>, pattern: RegExp, why: string): void => {
    t.throws(() => parseEnrolmentCommand(words, values), UsageError, why);
    t.throws(() => parseEnrolmentCommand(words, values), { message: pattern }, `${why}: says so`);
  };
  refused(['box', 'frobnicate'], {}, /unknown command "box frobnicate"/, 'an unknown verb');
  refused([], {}, /unknown command ""/, 'no words');
  refused(['box', 'forget'], {}, /name the box ID/, 'a missing box ID');
  refused(['box', 'approve'], {}, /name the box ID/, 'approve without a box ID');
  refused(['token', 'revoke'], {}, /name the token ID/, 'a missing token ID');
  refused(['box', 'restore', 'publisher-x'], {}, /"publisher-x" is not a box ID/, 'an ID of the wrong kind');
  refused(['box', 'list', 'nonsense'], {}, /"nonsense" is not a box ID/, 'a stray argument to box list');
  refused(['token', 'create'], { expires: 'soon' }, /--expires: "soon" is not a duration/, 'a bad expiry');
  refused(['token', 'create'], { uses: '0' }, /--uses: "0" is not a whole number/, 'a bad use count');
});
