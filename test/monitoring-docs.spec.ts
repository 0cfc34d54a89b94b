import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_METRIC_PREFIX, METRIC_NAMES } from 'nestjs-redis-shield';
import { REPO_ROOT } from './support/paths.js';

// The Grafana dashboard and the README's Monitoring section must only query metrics and
// labels the library exports (libs/nestjs-redis-shield/src/metrics/engine/metric-names.ts).

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

type MetricType = 'counter' | 'gauge' | 'histogram';
interface MetricSpec {
  key: string;
  name: string;
  type: MetricType;
  labels: string[];
}

/**
 * Every metric with its type and labels, from the JSDoc above each METRIC_NAMES entry
 * (`Counter {route, outcome="allowed"|"rejected"}: ...`): the one place they are written down.
 */
function metricSpecs(): MetricSpec[] {
  const source = read('libs/nestjs-redis-shield/src/metrics/engine/metric-names.ts');
  return [...source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+):\s*'([^']+)'/g)].map(([, doc, key, name]) => {
    const type = /^\s*(Counter|Gauge|Histogram)\b/.exec(doc)?.[1].toLowerCase();
    if (!type) throw new Error(`metric-names.ts: no type in the JSDoc of ${key}`);
    const labelList = /`\{([^}]*)\}`/.exec(doc)?.[1] ?? '';
    const labels = [...labelList.matchAll(/(?:^|,)\s*([a-z_][a-z0-9_]*)/g)].map((match) => match[1]);
    return { key, name, type: type as MetricType, labels };
  });
}

const SPECS = metricSpecs();
const SPEC_BY_NAME = new Map(SPECS.map((spec) => [`${DEFAULT_METRIC_PREFIX}${spec.name}`, spec]));
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
/** Labels Prometheus adds at scrape time. */
const TARGET_LABELS = ['instance', 'job'];
const ALL_LABELS = new Set([...SPECS.flatMap((spec) => spec.labels), ...TARGET_LABELS, 'le']);

/** Every exposed series name: `shield_` + a METRIC_NAMES value, histograms also with their suffixes. */
function allowedSeries(): Map<string, string[]> {
  const allowed = new Map<string, string[]>();
  for (const [full, spec] of SPEC_BY_NAME) {
    allowed.set(full, [...spec.labels, ...TARGET_LABELS]);
    if (spec.type !== 'histogram') continue;
    for (const suffix of HISTOGRAM_SUFFIXES) {
      allowed.set(`${full}${suffix}`, [...spec.labels, ...TARGET_LABELS, ...(suffix === '_bucket' ? ['le'] : [])]);
    }
  }
  return allowed;
}
const ALLOWED = allowedSeries();

/** The query without its string literals (label values, regexes), so only identifiers remain. */
const withoutStrings = (query: string) => query.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');

/** Every identifier mentioning `shield_`, whole (so `shield_redis_upp` or `xshield_redis_up` is kept as is). */
function metricIdentifiers(query: string): string[] {
  return [...withoutStrings(query).matchAll(/[A-Za-z0-9_:]*shield_[A-Za-z0-9_:]*/g)].map((match) => match[0]);
}

/** Problems of one PromQL query: unknown metrics, labels a metric does not have. */
function queryProblems(query: string): string[] {
  const problems: string[] = [];
  const names = metricIdentifiers(query);
  if (names.length === 0) problems.push('no shield_ metric');
  for (const name of names) if (!ALLOWED.has(name)) problems.push(`unknown metric ${name}`);
  const stripped = withoutStrings(query);
  for (const [, name, matchers] of stripped.matchAll(/([A-Za-z0-9_:]*shield_[A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = ALLOWED.get(name) ?? [];
    for (const [, label] of matchers.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (!labels.includes(label)) problems.push(`${name} has no label ${label}`);
    }
  }
  for (const [, list] of stripped.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const label of list.split(',').map((item) => item.trim())) {
      if (label !== '' && !ALL_LABELS.has(label)) problems.push(`unknown label ${label}`);
    }
  }
  return problems;
}

interface Target {
  expr?: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  id: number;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string; multi?: boolean }[] };
}

/** Every panel, rows' nested ones included; rows themselves are containers without queries. */
const flatten = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...flatten(panel.panels ?? [])]);

/** The README section between `## Monitoring` and the next `## ` heading. */
function monitoringSection(): string {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Monitoring\n');
  expect(start).toBeGreaterThan(-1);
  const rest = readme.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  return end === -1 ? rest : rest.slice(0, end);
}

describe('metric names', () => {
  it('the JSDoc of metric-names.ts gives a type and labels for exactly the METRIC_NAMES entries', () => {
    expect(Object.fromEntries(SPECS.map(({ key, name }) => [key, name]))).toEqual(METRIC_NAMES);
    expect(DEFAULT_METRIC_PREFIX).toBe('shield_');
    expect(SPECS.filter((spec) => spec.type === 'histogram').map((spec) => spec.name)).toHaveLength(3);
  });

  it('the checker rejects typos, foreign suffixes, missing prefixes and unknown labels', () => {
    expect(queryProblems('sum(shield_redis_up)')).toEqual([]);
    expect(queryProblems('sum(shield_redis_upp)')).toEqual(['unknown metric shield_redis_upp']);
    expect(queryProblems('min(shield_redis_up_bucket)')).toEqual(['unknown metric shield_redis_up_bucket']);
    expect(queryProblems('max(xshield_redis_up)')).toEqual(['unknown metric xshield_redis_up']);
    expect(queryProblems('rate(shield_cache_lookups_total_count[5m])')).toEqual([
      'unknown metric shield_cache_lookups_total_count',
    ]);
    expect(queryProblems('rate(shield_cache_entry_bytes_sum[5m])')).toEqual([]);
    expect(queryProblems('sum(rate(http_requests_total[5m]))')).toEqual(['no shield_ metric']);
    expect(queryProblems('shield_redis_up{connectoin="default"}')).toEqual(['shield_redis_up has no label connectoin']);
    expect(queryProblems('shield_redis_up{le="1"}')).toEqual(['shield_redis_up has no label le']);
    expect(queryProblems('sum by (rout) (shield_cache_lookups_total)')).toEqual(['unknown label rout']);
    // Label values and regexes are not identifiers.
    expect(queryProblems('shield_cache_lookups_total{route="/shield_x", status=~"HIT|MISS"}')).toEqual([]);
    expect(
      queryProblems(
        'histogram_quantile(0.99, sum by (command, le) (rate(shield_redis_command_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))',
      ),
    ).toEqual([]);
  });
});

describe('monitoring/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(read('monitoring/grafana-dashboard.json')) as Dashboard;
  const panels = flatten(dashboard.panels);
  const queryPanels = panels.filter((panel) => panel.type !== 'row');

  it('is a dashboard with panels, a datasource variable and a multi-value instance variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(queryPanels.length).toBeGreaterThan(10);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    const variables = dashboard.templating.list;
    expect(variables.find((variable) => variable.type === 'datasource')).toBeDefined();
    expect(variables.find((variable) => variable.name === 'instance')).toMatchObject({
      definition: 'label_values(shield_redis_up, instance)',
      multi: true,
    });
  });

  it('every panel has at least one query', () => {
    const empty = queryPanels
      .filter((panel) => !(panel.targets ?? []).some((target) => (target.expr ?? '').trim() !== ''))
      .map((panel) => panel.title);
    expect(empty).toEqual([]);
    expect(panels.filter((panel) => panel.type === 'row' && (panel.targets ?? []).length > 0)).toEqual([]);
  });

  it('queries only shield_ metrics and their labels', () => {
    const problems = queryPanels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) =>
        queryProblems(target.expr ?? '').map((problem) => `${panel.title}: ${problem} in ${target.expr}`),
      ),
    );
    const variableProblems = dashboard.templating.list
      .filter((variable) => variable.definition !== undefined)
      .flatMap((variable) => queryProblems(variable.definition!).map((problem) => `$${variable.name}: ${problem}`));
    expect([...problems, ...variableProblems]).toEqual([]);
  });

  it('legends only name labels the metrics have', () => {
    const legends = queryPanels.flatMap((panel) => (panel.targets ?? []).map((target) => target.legendFormat ?? ''));
    const unknown = legends.flatMap((legend) =>
      [...legend.matchAll(/\{\{\s*([^}\s]+)\s*\}\}/g)]
        .map((match) => match[1])
        .filter((label) => !ALL_LABELS.has(label)),
    );
    expect(unknown).toEqual([]);
  });

  it('covers every metric', () => {
    const used = new Set(
      queryPanels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => metricIdentifiers(target.expr ?? ''))),
    );
    const unused = [...SPEC_BY_NAME.keys()].filter(
      (name) => !used.has(name) && !HISTOGRAM_SUFFIXES.some((suffix) => used.has(`${name}${suffix}`)),
    );
    expect(unused).toEqual([]);
  });
});

describe("README's Monitoring section", () => {
  const section = monitoringSection();
  const promqlBlocks = [...section.matchAll(/^```promql\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  /** Table rows whose first cell is a backticked shield_ name: name -> [type, labels cell]. */
  const tableRows = new Map(
    [...section.matchAll(/^\|\s*`(shield_[A-Za-z0-9_:]*)`\s*\|([^|]*)\|(.*)\|[^|]*\|\s*$/gm)].map(
      ([, name, type, labels]) => [name, { type: type.trim(), labels }],
    ),
  );

  it('is one top-level section of the README', () => {
    const headings = [...read('README.md').matchAll(/^## (.+)$/gm)].map((match) => match[1]);
    expect(headings.filter((heading) => heading === 'Monitoring')).toHaveLength(1);
  });

  it('has PromQL examples that query only shield_ metrics and their labels', () => {
    expect(promqlBlocks.length).toBeGreaterThanOrEqual(5);
    const problems = promqlBlocks.flatMap((block) => queryProblems(block).map((problem) => `${problem} in ${block}`));
    expect(problems).toEqual([]);
  });

  it('lists every metric in its table with the right type and labels, and nothing else', () => {
    expect([...tableRows.keys()].sort()).toEqual([...SPEC_BY_NAME.keys()].sort());
    for (const [name, spec] of SPEC_BY_NAME) {
      const row = tableRows.get(name)!;
      // Label names are the backticked words outside parentheses; values sit inside them.
      const labels = [...row.labels.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((m) => m[1]);
      expect({ name, type: row.type, labels }).toEqual({ name, type: spec.type, labels: spec.labels });
    }
  });

  it('mentions only known shield_ metrics anywhere', () => {
    const mentioned = [...section.matchAll(/[A-Za-z0-9_:]*shield_[A-Za-z0-9_:]*/g)].map((match) => match[0]);
    const unknown = mentioned.filter((name) => !ALLOWED.has(name) && name !== DEFAULT_METRIC_PREFIX);
    expect(unknown).toEqual([]);
  });

  it('points at the dashboard and the options', () => {
    expect(section).toContain('monitoring/grafana-dashboard.json');
    for (const word of ['`registry`', '`prefix`', '`path`', '`defaultMetrics`', 'ShieldMetricsModule.forRoot']) {
      expect(section).toContain(word);
    }
  });
});
