// The one HTML escaper: text and attribute values cannot be ended by what they hold.
import t from 'tap';
import { escapeHtml } from '../src/html.js';

t.test('the five special characters are escaped, the rest kept', async (t) => {
  t.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  t.equal(escapeHtml('box-1 ünï ✓'), 'box-1 ünï ✓', 'ordinary text unchanged');
  t.equal(escapeHtml('&amp;'), '&amp;amp;', 'escaped text is escaped again, not trusted');
  t.equal(escapeHtml(''), '');
});
