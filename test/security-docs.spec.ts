import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './support/paths.js';

// docs/security.md names, for each threat, the test that covers it as `file` › "title part".
// Every citation must point at a test file that exists and still contains that title.

const doc = readFileSync(join(REPO_ROOT, 'docs/security.md'), 'utf8');
const CITATION = /`((?:test|libs|src)\/[\w./-]+\.(?:spec|int-spec|e2e-spec|fault-spec)\.ts)` › "([^"]+)"/g;
const citations = [...doc.matchAll(CITATION)].map(([, file, title]) => ({ file, title }));

describe('docs/security.md', () => {
  it('cites a test for every threat row', () => {
    const threats = doc.split('## Threats and their mechanisms')[1].split('\n## ')[0];
    const rows = threats.split('\n').filter((line) => line.startsWith('| ') && !/^\| (threat|---)/.test(line));
    expect(rows.length).toBeGreaterThanOrEqual(20);
    const cites = new RegExp(CITATION.source);
    expect(rows.filter((row) => !cites.test(row))).toEqual([]);
  });

  it.each(citations.map(({ file, title }) => [file, title]))('%s contains a test titled "%s"', (file, title) => {
    const source = readFileSync(join(REPO_ROOT, file), 'utf8');
    expect(source).toContain(title);
  });
});
