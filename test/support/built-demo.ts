import { type ChildProcess, spawn } from 'node:child_process';
import { REPO_ROOT, requireBuild } from './paths.js';

/** The built demo running in a child process (what `npm start` runs). */
export interface BuiltDemo {
  /** Base URL without the API prefix, e.g. `http://[::1]:41234`. */
  url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Sends SIGTERM and resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (e.g. SIGKILL: no shutdown hook runs) and resolves with how it exited. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `dist/main.js` on a free port, by default without Redis (port 1 refuses
 * connections), with `env` added, and waits for its "listening on" line.
 */
export async function startBuiltDemo(timeoutMs = 15_000, env: Record<string, string> = {}): Promise<BuiltDemo> {
  const child: ChildProcess = spawn(process.execPath, [requireBuild()], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', NO_COLOR: '1', REDIS_URL: 'redis://127.0.0.1:1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const kill = (signal: NodeJS.Signals) => {
    child.kill(signal);
    return exited;
  };
  const stop = () => kill('SIGTERM');
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no listening line within ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)\/api\/v1/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
    });
    return { url, output: () => output, stop, kill };
  } catch (error) {
    await stop();
    throw error;
  }
}
