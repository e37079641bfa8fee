/**
 * Renders a role's example config from its schema, so the documented keys and defaults are the ones
 * the loader uses. `bin/dandelion config example ROLE` prints it; the root *.yaml.example files are its output.
 */
import { stringify } from 'yaml';
import { SCHEMAS, isRole } from './schemas.js';
import type { Role } from './schemas.js';

function wrap(text: string, width = 98): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export function renderExample(roles: readonly Role[]): string {
  const out: string[] = [
    `# Dandelion ${roles.join(' and ')} config, rendered by \`bin/dandelion config example ${roles.join(' ')}\`.`,
    '# Every key with its default. Any key can be overridden by the environment variable DANDELION_<KEY>',
    '# (lists as JSON or comma-separated, mappings as JSON).',
  ];
  const seen = new Set<string>();
  for (const role of roles) {
    out.push('', `# ---- ${role} ----`);
    for (const [key, spec] of Object.entries(SCHEMAS[role])) {
      if (seen.has(key)) continue;
      seen.add(key);
      out.push('', ...wrap(spec.doc));
      if (spec.exampleText === '' || spec.default === undefined) {
        out.push(`# ${key}:`);
      } else {
        out.push(stringify({ [key]: spec.default }).trimEnd());
      }
    }
  }
  return `${out.join('\n')}\n`;
}

/** A role's keys as a Markdown table (key, default, meaning), for docs/config.md. */
export function renderMarkdownTable(role: Role): string {
  const rows = Object.entries(SCHEMAS[role]).map(([key, spec]) => {
    const def = spec.default === undefined ? '' : `\`${JSON.stringify(spec.default)}\``;
    return `| \`${key}\` | ${def} | ${spec.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| key | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Replace the text between `<!-- config:ROLE -->` and `<!-- /config:ROLE -->` with the role's table. */
export function spliceConfigTables(markdown: string): string {
  return markdown.replace(/(<!-- config:(\w+) -->)[\s\S]*?(<!-- \/config:\2 -->)/g, (whole, open: string, role: string, close: string) =>
    isRole(role) ? `${open}\n${renderMarkdownTable(role)}\n${close}` : whole,
  );
}
