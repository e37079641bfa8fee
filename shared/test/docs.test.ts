// The README is the front door and the manual lives in docs/: the README stays short, keeps its two
// commands, and every relative link in the Markdown a newcomer reads leads to a file and a heading that exist.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MARKDOWN = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  'bench/README.md',
  'shared/src/protocol/README.md',
  'provisioning/README.md',
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

t.test('the README is a front door', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  t.ok(readme.split('\n').length <= 250, `README.md has ${readme.split('\n').length} lines (at most 250)`);
  t.match(readme, /^make demo /m, 'the first command');
  t.match(readme, /^make test .*"N passed, N failed"/m, 'the second command and its closing line');
  for (const doc of ['docs/config.md', 'docs/compatibility.md', 'docs/security.md', 'bench/README.md', 'shared/src/protocol/README.md']) {
    t.match(readme, `(${doc})`, `links to ${doc}`);
  }
});

t.test('every relative link leads to a file and a heading that exist', async (t) => {
  for (const file of MARKDOWN) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue; // http:, https:, mailto:
      const [filePart, anchor] = (target as string).split('#') as [string, string | undefined];
      const resolved = filePart === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), filePart);
      t.ok(existsSync(resolved), `${file}: ${target} exists`);
      if (anchor !== undefined && existsSync(resolved) && resolved.endsWith('.md')) {
        t.ok(anchorsOf(readFileSync(resolved, 'utf8')).has(anchor), `${file}: ${target} names a heading`);
      }
    }
  }
});
