// The example configs and README tables are rendered from the schema: every key appears once with its
// doc as a comment, the rendered YAML reads back as the schema's defaults, and only the marked table of
// a known role is replaced in a Markdown file.
import t from 'tap';
import { parse } from 'yaml';
import { renderExample, renderMarkdownTable, spliceConfigTables } from '../src/config/example.js';
import { SCHEMAS } from '../src/config/schemas.js';

t.test('renderExample: every key once, its doc above it, its default as YAML', async (t) => {
  const text = renderExample(['agent', 'publisher']);
  t.match(text, /^# Dandelion agent and publisher config, rendered by `bin\/dandelion config example agent publisher`\./);
  const keys = new Set([...Object.keys(SCHEMAS.agent), ...Object.keys(SCHEMAS.publisher)]);
  for (const key of keys) {
    const mentions = text.split('\n').filter((l) => l.startsWith(`${key}:`) || l === `# ${key}:`);
    t.equal(mentions.length, 1, `${key} appears once`);
  }
  t.ok(text.split('\n').every((l) => l.length <= 200 || !l.startsWith('#')), 'doc comments are wrapped');
  const values = parse(text) as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    const spec = SCHEMAS.agent[key as keyof typeof SCHEMAS.agent] ?? SCHEMAS.publisher[key as keyof typeof SCHEMAS.publisher];
    t.same(value, (spec as { default: unknown }).default, `${key}: the default the loader uses`);
  }
});

t.test('renderMarkdownTable: one row per key, pipes in docs escaped', async (t) => {
  const table = renderMarkdownTable('entrance').split('\n');
  t.equal(table[0], '| key | default | meaning |');
  t.equal(table.length, 2 + Object.keys(SCHEMAS.entrance).length);
  for (const row of table.slice(2)) t.match(row, /^\| `[A-Z0-9_]+` \| .* \|$/);
  t.ok(table.slice(2).every((row) => row.replace(/\\\|/g, '').split('|').length === 5), 'each row has exactly three cells');
});

t.test('spliceConfigTables replaces only the marked table of a known role', async (t) => {
  const doc = ['# Title', '<!-- config:publisher -->', 'stale table', '<!-- /config:publisher -->', 'between', '<!-- config:nobody -->', 'left alone', '<!-- /config:nobody -->', 'end'].join('\n');
  const out = spliceConfigTables(doc);
  t.equal(out, ['# Title', '<!-- config:publisher -->', renderMarkdownTable('publisher'), '<!-- /config:publisher -->', 'between', '<!-- config:nobody -->', 'left alone', '<!-- /config:nobody -->', 'end'].join('\n'));
  t.equal(spliceConfigTables(out), out, 'rendering twice changes nothing');
  t.equal(spliceConfigTables('no markers here'), 'no markers here');
});
