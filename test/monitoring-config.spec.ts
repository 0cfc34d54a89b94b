import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { METRICS_PATH } from '../src/app.factory.js';
import { REPO_ROOT } from './support/paths.js';

// docker-compose.yml's Prometheus and monitoring/prometheus.yml must fit the demo: they
// scrape every instance at /metrics with the admin token from a file that git and the
// Docker build context never hold. (Checked with promtool and a live scrape when written;
// neither runs here.)

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  authorization?: { type?: string; credentials?: string; credentials_file?: string };
  bearer_token?: string;
  static_configs: { targets: string[] }[];
}

// `merge`: api-2 is api-1 through `<<: *api`.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const prometheus = parse(read('monitoring/prometheus.yml')) as { scrape_configs: ScrapeConfig[] };
const service = compose.services.prometheus;
/** Container path -> host path of the Prometheus service's bind mounts. */
const mounts = new Map(
  (service?.volumes ?? []).map((volume) => {
    const [host, container] = volume.split(':');
    return [container, host];
  }),
);

describe('Prometheus in docker-compose.yml', () => {
  it('is an opt-in profile with the scrape config mounted where the image reads it', () => {
    expect(service).toBeDefined();
    expect(service.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(service.profiles).toEqual(['monitoring']);
    expect(mounts.get('/etc/prometheus/prometheus.yml')).toBe('./monitoring/prometheus.yml');
  });

  it('scrapes /metrics of every demo instance with a bearer token read from the mounted secrets folder', () => {
    const demos = Object.entries(compose.services).filter(([, candidate]) => candidate.build !== undefined);
    expect(demos.map(([name]) => name).sort()).toEqual(['api-1', 'api-2']);
    const [job] = prometheus.scrape_configs;
    expect(prometheus.scrape_configs).toHaveLength(1);
    expect(job.metrics_path).toBe(`/${METRICS_PATH}`);
    expect(job.static_configs.flatMap((config) => config.targets).sort()).toEqual(
      demos.map(([name, demo]) => `${name}:${demo.environment?.PORT}`),
    );
    // The token never sits in the config itself.
    expect(job.bearer_token).toBeUndefined();
    expect(job.authorization?.credentials).toBeUndefined();
    expect(job.authorization?.type).toBe('Bearer');
    const file = job.authorization?.credentials_file ?? '';
    const folder = file.slice(0, file.lastIndexOf('/'));
    expect(mounts.get(folder)).toBe('./monitoring/secrets');
    expect(service.volumes).toContain(`./monitoring/secrets:${folder}:ro`);
  });

  it('keeps the token file out of git and out of the Docker build context', () => {
    expect(read('monitoring/secrets/.gitignore').split('\n')).toEqual(expect.arrayContaining(['*', '!.gitignore']));
    expect(read('.dockerignore').split('\n')).toContain('monitoring/secrets');
  });
});
