// The services database: the parser on odd files, lookups with glibc's meaning, and the C library itself as the oracle.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  builtinServices,
  clearServicesCache,
  defaultServicesPath,
  getServiceByName,
  getServiceByPort,
  getServicesByPort,
  loadServices,
  parsePortOrService,
  parseServices,
  type ServiceEntry,
} from '../lib/services.js';
import { linux } from '../lib/linux/index.js';
import { windowsServicesPath } from '../lib/win32/services.js';

const FIXTURE = new URL('./fixtures/services-edge.txt', import.meta.url).pathname;
const SYSTEM_SERVICES = '/etc/services';
const fixture = { path: FIXTURE };

// the services files the tests write, each under a name of its own
let directory: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'portclash-services-'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

afterEach(() => {
  clearServicesCache();
});

/** The error a call throws, so that code and message can both be checked. */
function thrown(call: () => unknown): { code?: unknown; message?: unknown } {
  try {
    call();
  } catch (error) {
    return error as { code?: unknown; message?: unknown };
  }
  throw new Error('expected the call to throw');
}

describe('parseServices', () => {
  it('reads name, port/protocol and aliases, through tabs, runs of spaces and trailing comments', () => {
    const text = [
      '# Network services, Internet style',
      '',
      'ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol',
      'http    80/tcp    www   # WorldWideWeb HTTP',
      'kerberos\t88/udp\t\tkerberos5 krb5 kerberos-sec\t# Kerberos v5',
      '   \t',
      '\tsubmissions 465/tcp ssmtp smtps urd',
    ].join('\n');
    expect(parseServices(text)).toEqual<ServiceEntry[]>([
      { name: 'ssh', port: 22, protocol: 'tcp', aliases: [] },
      { name: 'http', port: 80, protocol: 'tcp', aliases: ['www'] },
      { name: 'kerberos', port: 88, protocol: 'udp', aliases: ['kerberos5', 'krb5', 'kerberos-sec'] },
      { name: 'submissions', port: 465, protocol: 'tcp', aliases: ['ssmtp', 'smtps', 'urd'] },
    ]);
  });

  it('reads CRLF line ends (a file copied from Windows) like LF ones', () => {
    const lines = ['# comment', 'http\t80/tcp\twww', 'domain 53/udp', 'ntp 123/udp # time', ''];
    expect(parseServices(lines.join('\r\n'))).toEqual(parseServices(lines.join('\n')));
    expect(parseServices(lines.join('\r\n'))).toEqual([
      { name: 'http', port: 80, protocol: 'tcp', aliases: ['www'] },
      { name: 'domain', port: 53, protocol: 'udp', aliases: [] },
      { name: 'ntp', port: 123, protocol: 'udp', aliases: [] },
    ]);
  });

  it('keeps every entry in file order, duplicates included, and skips every malformed line', () => {
    const entries = parseServices(`${'# header\n'}${readFixture()}`);
    expect(entries.map((entry) => `${entry.name} ${entry.port}/${entry.protocol} ${entry.aliases.join(',')}`.trim())).toEqual([
      'tcpmux 1/tcp',
      'echo 7/tcp',
      'echo 7/udp',
      'http 80/tcp www',
      'acr-nema 104/tcp dicom',
      'imap2 143/tcp imap',
      'ntp 123/udp',
      'foo 100/udp foo-alias',
      'foo 200/tcp',
      'indented 300/tcp spaced-alias',
      // names keep their case; protocols are lower-cased
      'Mixed-Case 400/tcp Alias-Case',
      'dicom 11112/tcp',
      'http 8080/tcp',
      'echo 4/ddp',
      'amqp 5672/sctp',
      // aliases that could not be typed as a name (a/b-alias, 508) are dropped, the entry kept
      'tab 507/tcp ok-alias',
    ]);
  });

  it.each([
    ['no slash', 'noslash 500'],
    ['non-numeric port', 'badport abc/tcp'],
    ['port above 65535', 'toobig 70000/tcp'],
    ['port far above 65535', 'huge 99999999999999999999/tcp'],
    ['negative port', 'negative -1/tcp'],
    ['hex port', 'hex 0x50/tcp'],
    ['missing protocol', 'noproto 501/'],
    ['space before the slash', 'spaced 502 /tcp'],
    ['name without a letter', '80 503/tcp'],
    ['name with a slash', 'a/b 504/tcp'],
    ['comment inside the name', 'name#hash 505/tcp'],
    ['non-ASCII name', '\u00ffname 506/tcp'],
    ['name only', 'only-a-name'],
    ['port/protocol only', '80/tcp'],
    ['comment only', '   # 80/tcp'],
    ['NUL bytes', 'nul\u0000 1/tcp'],
  ])('skips a line with %s', (_why, line) => {
    expect(parseServices(`${line}\nok 1/tcp`)).toEqual([{ name: 'ok', port: 1, protocol: 'tcp', aliases: [] }]);
  });

  it('accepts port 0 and 65535, and leading zeros as strtol does', () => {
    expect(parseServices('zero 0/tcp\nmax 65535/udp\npadded 0080/tcp').map((entry) => entry.port)).toEqual([0, 65535, 80]);
  });

  it('parses a generated 10 MB file completely', () => {
    const lines: string[] = [];
    let size = 0;
    let valid = 0;
    // size counts a CRLF after every line, the last one included, hence the + 2
    for (let index = 0; size < 10 * 1024 * 1024 + 2; index++) {
      const line =
        index % 10 === 9
          ? `garbage-${index} ${index}/ # malformed: no protocol`
          : `svc-${index}\t${index % 65536}/${index % 3 === 0 ? 'udp' : 'tcp'}\t\talias-${index} a${index}\t# generated line ${index}`;
      if (index % 10 !== 9) valid++;
      lines.push(line);
      size += line.length + 2;
    }
    const text = lines.join('\r\n');
    expect(text.length).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    const entries = parseServices(text);
    expect(entries).toHaveLength(valid);
    expect(entries[0]).toEqual({ name: 'svc-0', port: 0, protocol: 'udp', aliases: ['alias-0', 'a0'] });
    expect(entries.at(-1)!.name).toMatch(/^svc-\d+$/);
  });
});

describe('loadServices', () => {
  it('reads the file it is given and says so', () => {
    const loaded = loadServices(fixture);
    expect(loaded.source).toBe('file');
    expect(loaded.path).toBe(FIXTURE);
    expect(loaded.entries).toHaveLength(16);
  });

  it('falls back to the built-in table when the file does not exist', () => {
    const loaded = loadServices({ path: join(directory, 'missing') });
    expect(loaded.source).toBe('builtin');
    expect(loaded).not.toHaveProperty('path');
    expect(loaded.entries).toEqual(builtinServices());
    expect(getServiceByName('http', 'tcp', { path: join(directory, 'missing') })).toEqual({
      name: 'http',
      port: 80,
      protocol: 'tcp',
      aliases: ['www'],
      source: 'builtin',
    });
  });

  it('falls back to the built-in table when the file has no valid entry, or is not a file', () => {
    const empty = join(directory, 'comments-only');
    writeFileSync(empty, '# nothing but comments\n\nnot a service line\n');
    expect(loadServices({ path: empty }).source).toBe('builtin');
    expect(loadServices({ path: directory }).source).toBe('builtin');
  });

  it('reads a path once until the cache is cleared', () => {
    const path = join(directory, 'changing');
    writeFileSync(path, 'first 1000/tcp\n');
    expect(getServiceByName('first', undefined, { path })?.port).toBe(1000);
    writeFileSync(path, 'second 2000/tcp\n');
    expect(loadServices({ path })).toBe(loadServices({ path }));
    expect(getServiceByName('second', undefined, { path })).toBeNull();
    clearServicesCache();
    expect(getServiceByName('second', undefined, { path })?.port).toBe(2000);
    expect(getServiceByName('first', undefined, { path })).toBeNull();
  });

  it('hands out copies of the built-in table, so changing one changes nothing else', () => {
    const path = join(directory, 'missing-too');
    // The built-in table is built once per process and clearServicesCache() keeps it, so the change
    // made here is undone at the end: a test that runs later (in a shuffled order) sees it untouched.
    const handedOut = loadServices({ path }).entries[0]!.aliases;
    const before = [...handedOut];
    try {
      handedOut.push('changed');
      const lookup = getServiceByName('ftp-data', 'tcp', { path })!;
      lookup.aliases.push('changed again');
      expect(builtinServices()[0]!.aliases).toEqual([]);
      expect(getServiceByName('ftp-data', 'tcp', { path })!.aliases).toEqual(['changed']);
    } finally {
      handedOut.splice(0, handedOut.length, ...before);
    }
  });

  it('reads the Windows file under %SystemRoot% on Windows, /etc/services on Linux', () => {
    try {
      vi.stubEnv('SystemRoot', 'D:\\WINNT');
      expect(windowsServicesPath()).toBe('D:\\WINNT\\System32\\drivers\\etc\\services');
      expect(linux.servicesPath()).toBe('/etc/services');
      expect(defaultServicesPath()).toBe('/etc/services');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('getServiceByName and getServiceByPort on a fixture', () => {
  it('finds names and aliases, the first entry in file order winning', () => {
    expect(getServiceByName('http', undefined, fixture)).toMatchObject({ name: 'http', port: 80, source: 'file' });
    expect(getServiceByName('www', 'tcp', fixture)).toMatchObject({ name: 'http', port: 80 });
    // `dicom` is an alias of 104 before it is the name of 11112; glibc answers 104
    expect(getServiceByName('dicom', undefined, fixture)).toMatchObject({ name: 'acr-nema', port: 104 });
    expect(getServiceByName('imap', undefined, fixture)).toMatchObject({ name: 'imap2', port: 143 });
  });

  it('takes the first entry of any protocol when none is given, and filters when one is', () => {
    expect(getServiceByName('foo', undefined, fixture)).toMatchObject({ port: 100, protocol: 'udp' });
    expect(getServiceByName('foo', 'tcp', fixture)).toMatchObject({ port: 200, protocol: 'tcp' });
    expect(getServiceByName('foo-alias', 'tcp', fixture)).toBeNull();
    expect(getServiceByName('ntp', 'tcp', fixture)).toBeNull();
    expect(getServiceByName('amqp', 'sctp', fixture)).toMatchObject({ port: 5672 });
  });

  it('compares names case-sensitively, as glibc does, and protocols lower-cased', () => {
    expect(getServiceByName('HTTP', undefined, fixture)).toBeNull();
    expect(getServiceByName('mixed-case', undefined, fixture)).toBeNull();
    expect(getServiceByName('Mixed-Case', 'tcp', fixture)).toMatchObject({ port: 400, protocol: 'tcp' });
    expect(getServiceByName('Alias-Case', 'TCP', fixture)).toMatchObject({ name: 'Mixed-Case' });
  });

  it('finds the first entry for a port, of any protocol or of one', () => {
    expect(getServiceByPort(7, undefined, fixture)).toMatchObject({ name: 'echo', protocol: 'tcp' });
    expect(getServiceByPort(7, 'udp', fixture)).toMatchObject({ name: 'echo', protocol: 'udp' });
    expect(getServiceByPort(4, undefined, fixture)).toMatchObject({ name: 'echo', protocol: 'ddp' });
    expect(getServiceByPort(8080, undefined, fixture)).toMatchObject({ name: 'http' });
    expect(getServiceByPort(123, 'tcp', fixture)).toBeNull();
    expect(getServiceByPort(9, undefined, fixture)).toBeNull();
  });

  it('lists every entry for a port, every protocol, in file order', () => {
    expect(getServicesByPort(7, fixture)).toEqual([
      { name: 'echo', port: 7, protocol: 'tcp', aliases: [], source: 'file' },
      { name: 'echo', port: 7, protocol: 'udp', aliases: [], source: 'file' },
    ]);
    expect(getServicesByPort(9, fixture)).toEqual([]);
  });

  it('refuses a port that is not one, as parsePort does', () => {
    expect(thrown(() => getServiceByPort(70000, undefined, fixture)).code).toBe('ERR_INVALID_PORT');
    expect(thrown(() => getServicesByPort(-1, fixture)).code).toBe('ERR_INVALID_PORT');
  });
});

describe('a lookup by port before the table is parsed', () => {
  /** Each port's answers from a fresh cache (the scan of the lines naming it) and from the parsed table. */
  function bothWays(path: string, ports: number[]): { scanned: unknown[]; parsed: unknown[] } {
    const ask = (port: number) => [getServiceByPort(port, undefined, { path }), getServiceByPort(port, 'udp', { path }), getServicesByPort(port, { path })];
    const scanned = ports.map((port) => {
      clearServicesCache();
      return ask(port);
    });
    clearServicesCache();
    loadServices({ path });
    return { scanned, parsed: ports.map(ask) };
  }

  /** Every number followed by `/` in the text, its neighbours, and port 80, which 8080 and 0080 contain. */
  function portsIn(text: string): number[] {
    const numbers = [...text.matchAll(/(\d+)\//g)].map((match) => Number(match[1])).filter((port) => port <= 65535);
    return [...new Set([0, 80, 65535, ...numbers.flatMap((port) => [port - 1, port, port + 1])])].filter((port) => port >= 0 && port <= 65535);
  }

  it('answers as the whole table does, for every port a tricky file names', () => {
    const path = join(directory, 'tricky');
    const text = [
      '# 80/tcp in a comment is no entry',
      'alt\t8080/tcp\t\twebcache # 80/udp',
      'zero\t0080/tcp',
      'big\t70000/tcp',
      'first 80/udp www-udp\r',
      'second 80/udp',
      'bad/name 81/tcp',
      '  spaced   82/tcp   alias80/tcp alias',
      'ends 83/tcp',
    ].join('\n');
    writeFileSync(path, text);
    const { scanned, parsed } = bothWays(path, portsIn(text));
    expect(scanned).toEqual(parsed);
    // the cases above are there: 80 has the leading-zero entry first, then the udp ones
    expect(getServicesByPort(80, { path }).map((entry) => entry.name)).toEqual(['zero', 'first', 'second']);
    expect(getServiceByPort(83, undefined, { path })).toMatchObject({ name: 'ends', source: 'file' });
  });

  it('answers from the built-in table for a file with no entry, even one naming the port in a comment', () => {
    const path = join(directory, 'no-entry');
    writeFileSync(path, '# http 80/tcp\nnot an entry\n');
    expect(getServiceByPort(80, 'tcp', { path })).toMatchObject({ name: 'http', source: 'builtin' });
    const { scanned, parsed } = bothWays(path, [80, 443, 3000]);
    expect(scanned).toEqual(parsed);
  });

  it('answers as the whole table does for the fixture and the system file', () => {
    for (const path of [FIXTURE, ...(existsSync(SYSTEM_SERVICES) ? [SYSTEM_SERVICES] : [])]) {
      const { scanned, parsed } = bothWays(path, portsIn(readFileSync(path, 'utf8')));
      expect(scanned, path).toEqual(parsed);
    }
  });

  it('reads the file once for many lookups, and parses the table after a few', () => {
    const path = join(directory, 'changing-port');
    writeFileSync(path, 'first 1000/tcp\n');
    expect(getServiceByPort(1000, undefined, { path })?.name).toBe('first');
    writeFileSync(path, 'second 1000/tcp\n');
    for (let lookup = 0; lookup < 20; lookup++) expect(getServiceByPort(1000, undefined, { path })?.name).toBe('first');
    expect(loadServices({ path }).entries.map((entry) => entry.name)).toEqual(['first']);
  });
});

describe('parsePortOrService', () => {
  it('takes decimal text as a port, validated like parsePort', () => {
    expect(parsePortOrService('8080', undefined, fixture)).toEqual({ port: 8080 });
    expect(parsePortOrService('0', 'udp', fixture)).toEqual({ port: 0 });
    expect(thrown(() => parsePortOrService('65536', undefined, fixture)).code).toBe('ERR_INVALID_PORT');
    expect(thrown(() => parsePortOrService('123456', undefined, fixture)).code).toBe('ERR_INVALID_PORT');
  });

  it.each(['', '-1', '80/tcp', ' 80', '8080 ', '+80'])('calls %j neither a port nor a name', (input) => {
    const error = thrown(() => parsePortOrService(input, undefined, fixture));
    expect(error.code).toBe('ERR_INVALID_PORT');
  });

  it('resolves names and aliases to the port and the official name', () => {
    expect(parsePortOrService('http', undefined, fixture)).toEqual({ port: 80, service: 'http' });
    expect(parsePortOrService('www', 'tcp', fixture)).toEqual({ port: 80, service: 'http' });
    expect(parsePortOrService('imap', undefined, fixture)).toEqual({ port: 143, service: 'imap2' });
  });

  it('prefers tcp when no protocol is given, then takes any', () => {
    // getservbyname would say 100/udp; a user asking about `foo` most likely means the tcp one
    expect(parsePortOrService('foo', undefined, fixture)).toEqual({ port: 200, service: 'foo' });
    expect(parsePortOrService('foo', 'udp', fixture)).toEqual({ port: 100, service: 'foo' });
    expect(parsePortOrService('ntp', undefined, fixture)).toEqual({ port: 123, service: 'ntp' });
  });

  it('looks in the built-in table for a name the file lacks', () => {
    expect(getServiceByName('mongodb', undefined, fixture)).toBeNull();
    expect(parsePortOrService('mongodb', undefined, fixture)).toEqual({ port: 27017, service: 'mongodb' });
    expect(parsePortOrService('postgres', 'tcp', fixture)).toEqual({ port: 5432, service: 'postgresql' });
  });

  it('says which source it looked in when a name is unknown', () => {
    const fromFile = thrown(() => parsePortOrService('no-such-service', undefined, fixture));
    expect(fromFile.code).toBe('ERR_UNKNOWN_SERVICE');
    expect(fromFile.message).toBe(`no service named 'no-such-service' in ${FIXTURE} (or the built-in table); give the port number instead`);

    const missing = '/nonexistent/portclash/services';
    const fromBuiltin = thrown(() => parsePortOrService('no-such-service', 'udp', { path: missing }));
    expect(fromBuiltin.code).toBe('ERR_UNKNOWN_SERVICE');
    expect(fromBuiltin.message).toBe(
      `no udp service named 'no-such-service' in the built-in table (${missing} is missing, unreadable or has no entries); give the port number instead`,
    );

    expect(thrown(() => parsePortOrService('ntp', 'tcp', fixture)).code).toBe('ERR_UNKNOWN_SERVICE');
  });

  it('points at the lower-case name when only the case is wrong', () => {
    const error = thrown(() => parsePortOrService('HTTP', undefined, fixture));
    expect(error.code).toBe('ERR_UNKNOWN_SERVICE');
    expect(error.message).toContain("names are case-sensitive, did you mean 'http'?");
  });
});

describe('builtinServices', () => {
  it.each([
    ['ftp-data', 'tcp', 20],
    ['ftp', 'tcp', 21],
    ['ssh', 'tcp', 22],
    ['telnet', 'tcp', 23],
    ['smtp', 'tcp', 25],
    ['domain', 'tcp', 53],
    ['domain', 'udp', 53],
    ['http', 'tcp', 80],
    ['www', 'tcp', 80],
    ['pop3', 'tcp', 110],
    ['ntp', 'udp', 123],
    ['imap', 'tcp', 143],
    ['snmp', 'udp', 161],
    ['ldap', 'tcp', 389],
    ['https', 'tcp', 443],
    ['submissions', 'tcp', 465],
    ['submission', 'tcp', 587],
    ['imaps', 'tcp', 993],
    ['pop3s', 'tcp', 995],
    ['mysql', 'tcp', 3306],
    ['postgresql', 'tcp', 5432],
    ['redis', 'tcp', 6379],
    ['http-alt', 'tcp', 8080],
    ['mongodb', 'tcp', 27017],
  ])('has %s/%s on %i', (name, protocol, port) => {
    const missing = { path: '/nonexistent/portclash/services' };
    expect(getServiceByName(name, protocol, missing)).toMatchObject({ port, protocol, source: 'builtin' });
  });

  it.runIf(existsSync(SYSTEM_SERVICES))('agrees with /etc/services wherever both have a name', () => {
    const system = { path: SYSTEM_SERVICES };
    expect(loadServices(system).source).toBe('file');
    const disagreements: string[] = [];
    let compared = 0;
    for (const entry of builtinServices()) {
      const fromFile = getServiceByName(entry.name, entry.protocol, system);
      if (fromFile === null) continue;
      compared++;
      const { source: _source, ...fileEntry } = fromFile;
      if (JSON.stringify(fileEntry) !== JSON.stringify(entry)) disagreements.push(`${JSON.stringify(entry)} vs ${JSON.stringify(fileEntry)}`);
    }
    // the everyday names (ssh, http, https, domain…) are in every services file: a loop that found none compared nothing
    expect(compared).toBeGreaterThanOrEqual(10);
    expect(disagreements).toEqual([]);
  });
});

describe.runIf(process.platform === 'linux')('the system services file', () => {
  const present = existsSync(SYSTEM_SERVICES);
  if (!present) console.log(`skipping the /etc/services checks: ${SYSTEM_SERVICES} does not exist on this machine`);

  it('answers the everyday names from the file', ({ skip }) => {
    skip(!present, `${SYSTEM_SERVICES} does not exist`);
    expect(loadServices().source).toBe('file');
    expect(getServiceByName('http')).toMatchObject({ name: 'http', port: 80, protocol: 'tcp', source: 'file' });
    expect(getServiceByName('ssh', 'tcp')).toMatchObject({ port: 22 });
    expect(getServiceByName('www')).toMatchObject({ name: 'http', port: 80 });
    expect(getServiceByPort(443, 'tcp')).toMatchObject({ name: 'https' });
    expect(parsePortOrService('www')).toEqual({ port: 80, service: 'http' });
  });

  it('gives the answers the C library gives (python3 socket.getservbyname/getservbyport)', ({ skip }) => {
    skip(!present, `${SYSTEM_SERVICES} does not exist`);
    const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (python.status !== 0) console.log('skipping the C library cross-check: python3 is not available');
    skip(python.status !== 0, 'python3 is not available');

    const entries = loadServices().entries;
    expect(entries.length).toBeGreaterThanOrEqual(30);
    const step = Math.max(1, Math.floor(entries.length / 30));
    const sample = entries.filter((_entry, index) => index % step === 0).slice(0, 30);
    expect(sample).toHaveLength(30);

    const names: [string, string | null][] = [];
    const ports: [number, string | null][] = [];
    for (const entry of sample) {
      names.push([entry.name, entry.protocol], [entry.name, null]);
      if (entry.aliases[0] !== undefined) names.push([entry.aliases[0], null]);
      ports.push([entry.port, entry.protocol], [entry.port, null]);
    }
    // the cases where order and case decide the answer
    names.push(['dicom', null], ['echo', null], ['HTTP', null], ['imap', null], ['no-such-service', null]);
    ports.push([4, null], [7, null], [143, null], [64999, null]);

    const script = [
      'import json, socket, sys',
      'query = json.load(sys.stdin)',
      'def by_name(name, proto):',
      '    try: return socket.getservbyname(name, proto) if proto else socket.getservbyname(name)',
      '    except OSError: return None',
      'def by_port(port, proto):',
      '    try: return socket.getservbyport(port, proto) if proto else socket.getservbyport(port)',
      '    except OSError: return None',
      "print(json.dumps({'names': [by_name(n, p) for n, p in query['names']], 'ports': [by_port(n, p) for n, p in query['ports']]}))",
    ].join('\n');
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify({ names, ports }), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const libc = JSON.parse(run.stdout) as { names: (number | null)[]; ports: (string | null)[] };

    const ours = {
      names: names.map(([name, protocol]) => getServiceByName(name, protocol ?? undefined)?.port ?? null),
      ports: ports.map(([port, protocol]) => getServiceByPort(port, protocol ?? undefined)?.name ?? null),
    };
    expect(ours).toEqual(libc);
    expect(libc.names.filter((port) => port !== null).length).toBeGreaterThanOrEqual(30);
  });
});

function readFixture(): string {
  return readFileSync(FIXTURE, 'utf8');
}
