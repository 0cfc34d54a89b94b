import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import * as nestCommon from '@nestjs/common';
import * as nestCore from '@nestjs/core';
import ts from 'typescript';
import { REPO_ROOT } from './support/paths.js';

// The adoption docs (docs/*.md, the README's "Quick start in your app") must stay true to
// the anchors they map from and to the library they map to:
// (a) each migration guide has a table row for every option of the anchor listed below;
// (b) every name a ```ts block imports from the package is exported by its entry point,
//     and the blocks that use only the package and Nest type-check against the source;
// (c) every option, member or export the "ours" column names exists in the library.

const LIB = join(REPO_ROOT, 'libs', 'nestjs-redis-shield', 'src');
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

const THROTTLER_GUIDE = 'docs/migrating-from-throttler.md';
const CACHE_MANAGER_GUIDE = 'docs/migrating-from-cache-manager.md';
const RECIPES = 'docs/recipes.md';

/**
 * What each migration guide must map, by `###` section (matched by heading prefix). Taken
 * from the anchors' declaration files as installed by `npm --prefix bench ci`:
 * - @nestjs/throttler 6.7.1: dist/throttler-module-options.interface.d.ts (ThrottlerOptions,
 *   ThrottlerModuleOptions, ThrottlerAsyncOptions, ThrottlerOptionsFactory), dist/throttler.decorator.d.ts,
 *   dist/throttler.guard.d.ts, dist/throttler-storage.interface.d.ts,
 *   dist/throttler-storage-record.interface.d.ts, dist/throttler.guard.interface.d.ts,
 *   dist/throttler.service.d.ts, dist/throttler.exception.d.ts, dist/throttler.providers.d.ts,
 *   dist/utilities.d.ts, dist/ip.d.ts; header names from dist/throttler.guard.js (`headerPrefix`,
 *   `Retry-After`). Not exported by its index, so not listed: dist/hash.d.ts, dist/throttler.constants.d.ts.
 * - @nest-lab/throttler-storage-redis 1.2.0: src/throttler-storage-redis.service.d.ts,
 *   src/throttler-storage-redis.interface.d.ts.
 */
const THROTTLER_ANCHOR: Record<string, string[]> = {
  'Module registration': [
    'ThrottlerModule.forRoot',
    'ThrottlerModule.forRootAsync',
    'useFactory',
    'useClass',
    'useExisting',
    'inject',
    'imports',
    'ThrottlerOptionsFactory',
    'createThrottlerOptions',
    'ThrottlerAsyncOptions',
    'ThrottlerModuleOptions',
  ],
  'Module options': [
    'throttlers',
    'ignoreUserAgents',
    'skipIf',
    'getTracker',
    'generateKey',
    'errorMessage',
    'storage',
    'ipv6SubnetPrefix',
    'setHeaders',
  ],
  'One throttler': [
    'name',
    'limit',
    'ttl',
    'blockDuration',
    'ignoreUserAgents',
    'skipIf',
    'getTracker',
    'generateKey',
    'setHeaders',
    'Resolvable',
  ],
  Decorators: [
    '@Throttle',
    'limit',
    'ttl',
    'blockDuration',
    'getTracker',
    'generateKey',
    '@SkipThrottle',
    'InjectThrottlerOptions',
    'InjectThrottlerStorage',
  ],
  '`ThrottlerGuard` members': [
    'canActivate',
    'onModuleInit',
    'shouldSkip',
    'handleRequest',
    'getTracker',
    'setResponseHeader',
    'getRequestResponse',
    'generateKey',
    'throwThrottlingException',
    'getErrorMessage',
    'options',
    'storageService',
    'reflector',
    'headerPrefix',
    'logger',
    'errorMessage',
    'throttlers',
    'commonOptions',
    'ipv6SubnetPrefix',
  ],
  'Storage and records': [
    'ThrottlerStorage',
    'increment',
    'ThrottlerStorageRecord',
    'totalHits',
    'timeToExpire',
    'isBlocked',
    'timeToBlockExpire',
    'ThrottlerLimitDetail',
    'key',
    'tracker',
    'ThrottlerRequest',
    'ThrottlerGetTrackerFunction',
    'ThrottlerGenerateKeyFunction',
    'ThrottlerStorageService',
    'DEFAULT_SWEEP_INTERVAL',
    'getOptionsToken',
    'getStorageToken',
    // @nest-lab/throttler-storage-redis
    'ThrottlerStorageRedisService',
    'ThrottlerStorageRedis',
    'redis',
    'scriptSrc',
    'getScriptSrc',
    'disconnectRequired',
    'onModuleDestroy',
  ],
  'Exceptions and helpers': [
    'ThrottlerException',
    'throttlerMessage',
    'seconds',
    'minutes',
    'hours',
    'days',
    'weeks',
    'normalizeIp',
    'DEFAULT_IPV6_SUBNET_PREFIX',
  ],
  Headers: ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After'],
};

/**
 * - @nestjs/cache-manager 12.0.0: dist/cache.module.d.ts (register, registerAsync, Cache),
 *   dist/interfaces/cache-module.interface.d.ts (CacheModuleOptions, CacheModuleAsyncOptions,
 *   CacheOptionsFactory), dist/interfaces/cache-manager.interface.d.ts (CacheManagerOptions),
 *   dist/interceptors/cache.interceptor.d.ts, dist/decorators/*.d.ts, dist/cache.constants.d.ts;
 *   `provideInjectionTokensFrom` and `imports` from @nestjs/common's ConfigurableModuleAsyncOptions;
 *   the `X-Cache` header from dist/interceptors/cache.interceptor.js.
 * - cache-manager 7.2.9: dist/index.d.mts (CreateCacheOptions, Cache).
 * - @keyv/redis 5.1.6: dist/index.d.ts (KeyvRedisOptions, createKeyv, createKeyvNonBlocking).
 */
const CACHE_MANAGER_ANCHOR: Record<string, string[]> = {
  'Module registration': [
    'CacheModule.register',
    'CacheModule.registerAsync',
    'useFactory',
    'useClass',
    'useExisting',
    'inject',
    'imports',
    'provideInjectionTokensFrom',
    'extraProviders',
    'isGlobal',
    'CacheOptionsFactory',
    'createCacheOptions',
    'CacheModuleOptions',
    'CacheModuleAsyncOptions',
  ],
  'Cache options': [
    'stores',
    'namespace',
    'ttl',
    'refreshThreshold',
    'refreshAllStores',
    'nonBlocking',
    'cacheId',
    'StoreConfig',
  ],
  'Redis store': [
    'createKeyv',
    'createKeyvNonBlocking',
    'namespace',
    'keyPrefixSeparator',
    'clearBatchSize',
    'useUnlink',
    'noNamespaceAffectsAll',
    'throwOnConnectError',
    'throwOnErrors',
    'connectionTimeout',
  ],
  '`CacheInterceptor`': [
    'CacheInterceptor',
    'intercept',
    'trackBy',
    'isRequestCacheable',
    'allowedMethods',
    'setHeadersWhenHttp',
    'cacheManager',
    'reflector',
    'httpAdapterHost',
  ],
  'Decorators and metadata': [
    '@CacheTTL',
    'CacheTTLFactory',
    '@CacheKey',
    'CacheKeyFactory',
    'CACHE_TTL_METADATA',
    'CACHE_KEY_METADATA',
  ],
  '`CACHE_MANAGER`': [
    'CACHE_MANAGER',
    'Cache',
    'get',
    'mget',
    'set',
    'mset',
    'del',
    'mdel',
    'clear',
    'ttl',
    'wrap',
    'on',
    'off',
    'disconnect',
    'cacheId',
    'stores',
    'CACHE_MODULE_OPTIONS',
  ],
  Headers: ['X-Cache'],
};

/** Modules a snippet may import from; migration guides may also show the anchors (in "before" code). */
const PACKAGE_ENTRIES = ['nestjs-redis-shield', 'nestjs-redis-shield/terminus'];
const ALLOWED_IMPORTS = [...PACKAGE_ENTRIES, '@nestjs/common', '@nestjs/core', 'ioredis'];
const ANCHOR_IMPORTS = [
  '@nestjs/throttler',
  '@nest-lab/throttler-storage-redis',
  '@nestjs/cache-manager',
  'cache-manager',
  '@keyv/redis',
];

// ---------------------------------------------------------------------------------------
// Markdown

interface Doc {
  path: string;
  text: string;
}

const DOCS: Doc[] = readdirSync(join(REPO_ROOT, 'docs'))
  .filter((file) => file.endsWith('.md'))
  .map((file) => ({ path: `docs/${file}`, text: read(`docs/${file}`) }));

/** The README's section for adopters, up to the next `## ` heading. */
function readmeQuickStart(): Doc {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Quick start in your app\n');
  if (start === -1) throw new Error('README.md has no "## Quick start in your app" section');
  const rest = readme.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  return { path: 'README.md#quick-start-in-your-app', text: end === -1 ? rest : rest.slice(0, end) };
}

interface CodeBlock {
  doc: string;
  index: number;
  code: string;
}

/** The ```ts blocks of a document, numbered from 1. */
function tsBlocks(doc: Doc): CodeBlock[] {
  return [...doc.text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match, i) => ({
    doc: doc.path,
    index: i + 1,
    code: match[1],
  }));
}

/** `###`-level sections by heading text (the text up to the next heading of level 1–3). */
function sections(text: string): Map<string, string> {
  const result = new Map<string, string>();
  const headings = [...text.matchAll(/^#{1,3} (.+)$/gm)];
  headings.forEach((heading, i) => {
    const end = i + 1 < headings.length ? headings[i + 1].index : text.length;
    result.set(heading[1].trim(), text.slice(heading.index, end));
  });
  return result;
}

/** Body rows of the markdown tables in a text, as cells: the rows after a separator row, until a non-table line. */
function bodyRows(text: string): string[][] {
  const rows: string[][] = [];
  let inBody = false;
  for (const line of text.split('\n')) {
    if (!line.trimStart().startsWith('|')) {
      inBody = false;
      continue;
    }
    if (/^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(line)) {
      inBody = true;
      continue;
    }
    if (!inBody) continue;
    rows.push(
      line
        .trim()
        .replace(/^\|/, '')
        .replace(/\|$/, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]);

/** Whether a code span names `option`: exactly, or followed by a non-name character (`@Throttle(...)`). */
function spanNames(span: string, option: string): boolean {
  return span === option || (span.startsWith(option) && !/^[\w$-]/.test(span.slice(option.length)));
}

// ---------------------------------------------------------------------------------------
// The library's exports and option types, through the TypeScript compiler API

function parse(path: string): ts.SourceFile {
  return ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
}

const isExported = (node: ts.Node) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** Every name an entry point exports (values and types), following `export *` re-exports. */
function exportedNames(path: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(path)) return names;
  seen.add(path);
  for (const statement of parse(path).statements) {
    if (ts.isExportDeclaration(statement)) {
      if (statement.exportClause && ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) names.add(element.name.text);
      } else if (statement.exportClause && ts.isNamespaceExport(statement.exportClause)) {
        names.add(statement.exportClause.name.text);
      } else if (statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
        const target = join(dirname(path), statement.moduleSpecifier.text.replace(/\.js$/, '.ts'));
        for (const name of exportedNames(target, seen)) names.add(name);
      }
    } else if (isExported(statement)) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name)) names.add(declaration.name.text);
        }
      } else if (
        (ts.isFunctionDeclaration(statement) ||
          ts.isClassDeclaration(statement) ||
          ts.isInterfaceDeclaration(statement) ||
          ts.isTypeAliasDeclaration(statement) ||
          ts.isEnumDeclaration(statement)) &&
        statement.name
      ) {
        names.add(statement.name.text);
      }
    }
  }
  return names;
}

const EXPORTS: Record<string, Set<string>> = {
  'nestjs-redis-shield': exportedNames(join(LIB, 'index.ts')),
  'nestjs-redis-shield/terminus': exportedNames(join(LIB, 'terminus', 'index.ts')),
};
const ALL_EXPORTS = new Set([...EXPORTS['nestjs-redis-shield'], ...EXPORTS['nestjs-redis-shield/terminus']]);

/** Public member names of an exported interface, class or object type alias. */
function membersOf(path: string, typeName: string): string[] {
  for (const statement of parse(path).statements) {
    const named = (ts.isInterfaceDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name;
    if (named && statement.name.text === typeName) {
      return (statement.members as ts.NodeArray<ts.ClassElement | ts.TypeElement>)
        .filter((member) => {
          const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
          return !modifiers.some(
            (m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword,
          );
        })
        .map((member) => (member.name && ts.isIdentifier(member.name) ? member.name.text : undefined))
        .filter((name): name is string => name !== undefined);
    }
    if (ts.isTypeAliasDeclaration(statement) && statement.name.text === typeName) {
      return ts.isTypeLiteralNode(statement.type)
        ? statement.type.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : []))
        : [];
    }
  }
  return [];
}

/**
 * The types whose members the "ours" column may name: the module options and module-level
 * options (extras) of every module, decorator arguments, results and the services' methods.
 */
const OUR_TYPES: [file: string, type: string][] = [
  ['rate-limit/engine/rate-limit.options.ts', 'RateLimitModuleOptions'],
  ['rate-limit/nest/rate-limit.providers.ts', 'RateLimitModuleExtras'],
  ['rate-limit/engine/policy.ts', 'TierDefinition'],
  ['rate-limit/engine/policy.ts', 'PolicyDefinition'],
  ['rate-limit/nest/rate-limit.decorators.ts', 'InlineRateLimit'],
  ['rate-limit/engine/rate-limit-headers.ts', 'HeaderOptions'],
  ['rate-limit/engine/violation.ts', 'ViolationOptions'],
  ['rate-limit/nest/rate-limit-testing.module.ts', 'RateLimitTestingOptions'],
  ['rate-limit/engine/rate-limit.types.ts', 'RateLimitResult'],
  ['rate-limit/engine/rate-limit.types.ts', 'TierResult'],
  ['rate-limit/nest/rate-limit.exceptions.ts', 'RateLimitExceededBody'],
  ['rate-limit/nest/rate-limit.service.ts', 'RateLimitService'],
  ['rate-limit/store/store.interface.ts', 'RateLimitStore'],
  ['cache/engine/cache.options.ts', 'ResponseCacheModuleOptions'],
  ['cache/nest/cache.providers.ts', 'ResponseCacheModuleExtras'],
  ['cache/nest/cache.decorators.ts', 'InvalidationTargets'],
  ['cache/nest/cache.service.ts', 'CacheService'],
  ['redis/engine/redis.options.ts', 'RedisModuleOptions'],
  ['redis/nest/redis.providers.ts', 'RedisModuleExtras'],
  ['redis/store/redis.service.ts', 'RedisService'],
  ['core/http/http-facade.ts', 'HttpExchange'],
  ['system-api/nest/system-api.options.ts', 'SystemApiModuleOptions'],
  ['metrics/engine/metrics.options.ts', 'ShieldMetricsModuleOptions'],
  ['metrics/nest/metrics.providers.ts', 'ShieldMetricsModuleExtras'],
];

const MEMBERS = new Map(OUR_TYPES.map(([file, type]) => [type, membersOf(join(LIB, file), type)]));

/** `forRootAsync` keys, from Nest's own declaration (`imports` comes from `ModuleMetadata`). */
const ASYNC_OPTION_KEYS = [
  ...membersOf(
    join(
      REPO_ROOT,
      'node_modules/@nestjs/common/module-utils/interfaces/configurable-module-async-options.interface.d.ts',
    ),
    'ConfigurableModuleAsyncOptions',
  ),
  'imports',
];

/** The `useClass` factory method of each module (`setFactoryMethodName('...')`). */
const FACTORY_METHODS = [
  'rate-limit/nest/rate-limit.providers.ts',
  'cache/nest/cache.providers.ts',
  'redis/nest/redis.providers.ts',
  'metrics/nest/metrics.providers.ts',
].flatMap((file) =>
  [...readFileSync(join(LIB, file), 'utf8').matchAll(/setFactoryMethodName\('(\w+)'\)/g)].map((match) => match[1]),
);

/** The protected methods `RateLimitGuard` documents for subclasses (throttler's guard members map to them). */
const GUARD_SEAMS = (() => {
  for (const statement of parse(join(LIB, 'rate-limit/nest/rate-limit.guard.ts')).statements) {
    if (ts.isClassDeclaration(statement) && statement.name?.text === 'RateLimitGuard') {
      return statement.members
        .filter((member) =>
          (ts.getModifiers(member as ts.MethodDeclaration) ?? []).some(
            (m) => m.kind === ts.SyntaxKind.ProtectedKeyword,
          ),
        )
        .flatMap((member) => (member.name && ts.isIdentifier(member.name) ? [member.name.text] : []));
    }
  }
  return [];
})();

const KNOWN_LOWER = new Set([
  ...[...MEMBERS.values()].flat(),
  ...GUARD_SEAMS,
  ...ASYNC_OPTION_KEYS,
  ...FACTORY_METHODS,
  ...[...ALL_EXPORTS].filter((name) => /^[a-z]/.test(name)),
]);
/** Type-only exports of @nestjs/common the column names (absent from its runtime exports). */
const NEST_TYPES = ['ExecutionContext'];
const KNOWN_UPPER = new Set([
  ...ALL_EXPORTS,
  ...Object.keys(nestCommon),
  ...Object.keys(nestCore),
  ...NEST_TYPES,
  ...Object.getOwnPropertyNames(globalThis),
]);
const LITERALS = new Set(['true', 'false', 'undefined', 'null']);
/** Words in code spans that are not code: header names, a Redis configuration directive. */
const NOT_CODE = new Set(['ETag', 'Age', 'Vary', 'Link', 'maxmemory']);

/**
 * The code names a span of the "ours" column claims, or undefined when it names none
 * (values in quotes, numbers, header names, Redis commands, object literals):
 * `windowMs: 60_000` claims `windowMs`, `@RateLimit('x')` claims `RateLimit`,
 * `RateLimitService.consume(...)` claims `RateLimitService`.
 */
function claimOf(span: string): { name: string; kind: 'member' | 'export' } | undefined {
  const text = span.replace(/^@/, '');
  const lower = /^[a-z][\w$]*/.exec(text);
  if (lower) {
    const rest = text.slice(lower[0].length);
    // `per-user`, `sliding-window` are values, `rediss://` a URL scheme.
    if (LITERALS.has(lower[0]) || NOT_CODE.has(lower[0]) || /^(?:[-/]|:\/\/)/.test(rest)) return undefined;
    return { name: lower[0], kind: 'member' };
  }
  const upper = /^[A-Z][\w$]*/.exec(text);
  if (!upper) return undefined;
  const rest = text.slice(upper[0].length);
  if (!(rest === '' || /^[.(<]/.test(rest))) return undefined;
  // All-capital words without `_` are HTTP methods, cache statuses and Redis commands.
  if (/^[A-Z0-9]+$/.test(upper[0]) || NOT_CODE.has(upper[0])) return undefined;
  return { name: upper[0], kind: 'export' };
}

/** The "ours" cells of a guide's option tables with what they claim. */
function claims(guide: string): { row: string; name: string; kind: 'member' | 'export' }[] {
  return bodyRows(read(guide)).flatMap((cells) =>
    codeSpans(cells[1] ?? '').flatMap((span) => {
      const claim = claimOf(span);
      return claim ? [{ row: cells[0], ...claim }] : [];
    }),
  );
}

// ---------------------------------------------------------------------------------------
// Imports of code blocks

interface ImportUse {
  block: string;
  module: string;
  names: string[];
  form: 'named' | 'namespace' | 'default' | 'side-effect';
}

function importsOf(block: CodeBlock): ImportUse[] {
  const source = ts.createSourceFile('snippet.ts', block.code, ts.ScriptTarget.Latest, true);
  const where = `${block.doc} block ${block.index}`;
  return source.statements.filter(ts.isImportDeclaration).map((declaration) => {
    const module = (declaration.moduleSpecifier as ts.StringLiteral).text;
    const clause = declaration.importClause;
    if (!clause) return { block: where, module, names: [], form: 'side-effect' };
    if (clause.namedBindings && ts.isNamespaceImport(clause.namedBindings)) {
      return { block: where, module, names: [], form: 'namespace' };
    }
    const names =
      clause.namedBindings && ts.isNamedImports(clause.namedBindings)
        ? clause.namedBindings.elements.map((element) => (element.propertyName ?? element.name).text)
        : [];
    return { block: where, module, names, form: clause.name ? 'default' : 'named' };
  });
}

const DOC_BLOCKS = [...DOCS, readmeQuickStart()].flatMap(tsBlocks);

// ---------------------------------------------------------------------------------------

describe('migration guides: a row for every anchor option', () => {
  it.each([
    [THROTTLER_GUIDE, THROTTLER_ANCHOR],
    [CACHE_MANAGER_GUIDE, CACHE_MANAGER_ANCHOR],
  ])('%s', (guide, anchor) => {
    const bySection = sections(read(guide));
    const problems: string[] = [];
    for (const [prefix, options] of Object.entries(anchor)) {
      const matches = [...bySection.keys()].filter((heading) => heading.startsWith(prefix));
      if (matches.length !== 1) {
        problems.push(`section "${prefix}...": ${matches.length} headings start with it`);
        continue;
      }
      const firstCells = bodyRows(bySection.get(matches[0])!).map((cells) => cells[0]);
      for (const option of options) {
        if (!firstCells.some((cell) => codeSpans(cell).some((span) => spanNames(span, option)))) {
          problems.push(`section "${matches[0]}": no row names \`${option}\` in its first column`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every row of their option tables says what to use or why nothing is needed', () => {
    const empty = [THROTTLER_GUIDE, CACHE_MANAGER_GUIDE].flatMap((guide) =>
      bodyRows(read(guide))
        .filter((cells) => cells.length < 2 || cells[1].replace(/[\s.—-]/g, '') === '')
        .map((cells) => `${guide}: ${cells[0]}`),
    );
    expect(empty).toEqual([]);
  });
});

describe('code blocks of the adoption docs', () => {
  it('exist where expected', () => {
    const docsWithBlocks = new Set(DOC_BLOCKS.map((block) => block.doc));
    for (const doc of [THROTTLER_GUIDE, CACHE_MANAGER_GUIDE, RECIPES, 'README.md#quick-start-in-your-app']) {
      expect(docsWithBlocks).toContain(doc);
    }
  });

  it('import only names the package entry points export', () => {
    expect(EXPORTS['nestjs-redis-shield'].size).toBeGreaterThan(50);
    expect(EXPORTS['nestjs-redis-shield/terminus']).toContain('RedisHealthIndicator');
    const uses = DOC_BLOCKS.flatMap(importsOf).filter((use) => PACKAGE_ENTRIES.includes(use.module));
    expect(uses.length).toBeGreaterThan(10);
    const problems = uses.flatMap((use) => [
      ...(use.form === 'named' ? [] : [`${use.block}: ${use.form} import of ${use.module} (use named imports)`]),
      ...use.names
        .filter((name) => !EXPORTS[use.module].has(name))
        .map((name) => `${use.block}: '${name}' is not exported by ${use.module}`),
    ]);
    expect(problems).toEqual([]);
  });

  it('import only from the package, Nest and ioredis (migration guides: also the anchors)', () => {
    const problems = DOC_BLOCKS.flatMap((block) => {
      const allowed = [THROTTLER_GUIDE, CACHE_MANAGER_GUIDE].includes(block.doc)
        ? [...ALLOWED_IMPORTS, ...ANCHOR_IMPORTS]
        : ALLOWED_IMPORTS;
      return importsOf(block)
        .filter((use) => !allowed.includes(use.module))
        .map((use) => `${use.block}: imports from '${use.module}'`);
    });
    expect(problems).toEqual([]);
  });

  // Blocks that import no anchor are compiled together as modules of the repository, with
  // its tsconfig (the package resolves to its source), so option shapes are checked too.
  it('type-check against the library source (blocks without anchor imports)', () => {
    const blocks = DOC_BLOCKS.filter((block) => importsOf(block).every((use) => ALLOWED_IMPORTS.includes(use.module)));
    expect(blocks.length).toBeGreaterThan(10);
    const dir = join(REPO_ROOT, '.adoption-docs-snippets');
    const files = new Map(
      blocks.map((block) => [
        join(dir, `${block.doc.replace(/[^\w]+/g, '_')}_${block.index}.ts`),
        `${block.code}\nexport {};\n`,
      ]),
    );
    const config = ts.getParsedCommandLineOfConfigFile(
      join(REPO_ROOT, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
        },
      },
    )!;
    const options: ts.CompilerOptions = { ...config.options, noEmit: true, incremental: false };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    const readFile = host.readFile.bind(host);
    host.getSourceFile = (name, language, ...rest) =>
      files.has(name) ? ts.createSourceFile(name, files.get(name)!, language) : getSourceFile(name, language, ...rest);
    host.fileExists = (name) => files.has(name) || fileExists(name);
    host.readFile = (name) => files.get(name) ?? readFile(name);
    const program = ts.createProgram([...files.keys()], options, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((diagnostic) => diagnostic.file && files.has(diagnostic.file.fileName))
      .map((diagnostic) => {
        const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        const name = relative(dir, diagnostic.file!.fileName);
        return `${name}:${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  }, 120_000);
});

describe('the "nestjs-redis-shield" column of the migration guides', () => {
  it('reads the option types it checks against', () => {
    const empty = [...MEMBERS].filter(([, members]) => members.length === 0).map(([type]) => type);
    expect(empty).toEqual([]);
    expect(MEMBERS.get('RateLimitModuleOptions')).toEqual(expect.arrayContaining(['clientId', 'skip', 'headers']));
    expect(MEMBERS.get('ResponseCacheModuleOptions')).toEqual(expect.arrayContaining(['ttlProfiles', 'vary']));
    expect(ASYNC_OPTION_KEYS).toEqual(expect.arrayContaining(['useFactory', 'useClass', 'useExisting', 'inject']));
    expect(FACTORY_METHODS).toEqual(expect.arrayContaining(['createRateLimitOptions', 'createResponseCacheOptions']));
  });

  it.each([THROTTLER_GUIDE, CACHE_MANAGER_GUIDE])('%s names only options, members and exports that exist', (guide) => {
    const found = claims(guide);
    const problems = found
      .filter(({ name, kind }) => !(kind === 'member' ? KNOWN_LOWER : KNOWN_UPPER).has(name))
      .map(({ row, name }) => `row ${row}: \`${name}\` is not an option, member or export of nestjs-redis-shield`);
    expect(problems).toEqual([]);
  });

  it('claims the rate-limit and cache module options it maps to', () => {
    const claimed = new Set([...claims(THROTTLER_GUIDE), ...claims(CACHE_MANAGER_GUIDE)].map(({ name }) => name));
    const rateLimitOptions = new Set(MEMBERS.get('RateLimitModuleOptions'));
    const cacheOptions = new Set(MEMBERS.get('ResponseCacheModuleOptions'));
    expect([...claimed].filter((name) => rateLimitOptions.has(name)).length).toBeGreaterThanOrEqual(8);
    expect([...claimed].filter((name) => cacheOptions.has(name)).length).toBeGreaterThanOrEqual(4);
    expect(claimed).toContain('windowMs');
    expect(claimed).toContain('ttlProfiles');
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('links of the adoption docs', () => {
  it('point to files and headings that exist', () => {
    const sources = [...DOCS, readmeQuickStart(), { path: 'CHANGELOG.md', text: read('CHANGELOG.md') }];
    const problems = sources.flatMap((doc) => {
      const base = doc.path.startsWith('docs/') ? join(REPO_ROOT, 'docs') : REPO_ROOT;
      const self = join(REPO_ROOT, doc.path.replace(/#.*/, ''));
      return [...doc.text.matchAll(/\]\(([^)#\s]*)(?:#([^)\s]*))?\)/g)].flatMap(([, target, fragment]) => {
        if (/^[a-z]+:/.test(target)) return [];
        const file = target === '' ? self : join(base, target);
        if (!existsSync(file)) return [`${doc.path}: link to missing ${target}`];
        if (!fragment || !file.endsWith('.md')) return [];
        const anchors = [...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]));
        return anchors.includes(fragment) ? [] : [`${doc.path}: no heading for #${fragment} in ${target || doc.path}`];
      });
    });
    expect(problems).toEqual([]);
  });
});
