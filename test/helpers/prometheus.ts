/**
 * Reads a role's /metrics as Prometheus would: over HTTP, parsed with parse-prometheus-text-format.
 * That parser is lenient (it takes any line as an untyped sample), so every family is also checked
 * here: a HELP text, a TYPE, numeric values, and no name twice.
 */
import { createRequire } from 'node:module';

export interface Sample {
  value?: string;
  labels?: Record<string, string>;
  /** Histograms: upper bound → cumulative count. */
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

export interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

// A CommonJS package without type declarations: typed here, once.
const parseText = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];
// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
const NUMBER = /^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?inf(?:inity)?|nan)$/i;

/** Families by name; throws when one lacks HELP or TYPE, holds a value that is not a number, or repeats. */
export function parseMetrics(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const family of parseText(text)) {
    if (families.has(family.name)) throw new Error(`${family.name} appears twice`);
    if (!family.help) throw new Error(`${family.name} has no HELP`);
    if (family.type === 'UNTYPED') throw new Error(`${family.name} has no TYPE`);
    for (const s of family.metrics) {
      for (const v of [s.value, s.count, s.sum, ...Object.values(s.buckets ?? {})]) {
        if (v !== undefined && !NUMBER.test(v)) throw new Error(`${family.name}: ${JSON.stringify(v)} is not a number`);
      }
    }
    families.set(family.name, family);
  }
  return families;
}

export interface Scrape {
  status: number;
  contentType: string | null;
  text: string;
  /** Parsed and checked when the status is 200. */
  families: Map<string, Family>;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), text, families: res.status === 200 ? parseMetrics(text) : new Map() };
}

/** The value of the sample of `name` whose labels are exactly `labels`; undefined when there is none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const sample = families.get(name)?.metrics.find((s) => JSON.stringify(Object.entries(s.labels ?? {}).sort()) === want);
  return sample?.value === undefined ? undefined : Number(sample.value);
}

export { freePort } from '../../shared/src/listen.js';
