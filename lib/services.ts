// The services database (/etc/services): names for port numbers, with getservbyname/getservbyport's meaning.
import { readFileSync } from 'node:fs';

import { PortclashError } from './errors.js';
import { platform } from './platform.js';
import { parsePort } from './ports.js';

export interface ServiceEntry {
  /** The official name, e.g. `http`. */
  name: string;
  port: number;
  /** Lower-cased: `tcp`, `udp`, `sctp`, `ddp`, … */
  protocol: string;
  /** Other names for the same entry, e.g. `www` for `http`. */
  aliases: string[];
}

export type ServiceSource = 'file' | 'builtin';

/** An entry and where it was found, so callers can say "from the built-in table". */
export type ServiceLookup = ServiceEntry & { source: ServiceSource };

export interface LoadedServices {
  entries: ServiceEntry[];
  source: ServiceSource;
  /** The file the entries came from; absent for the built-in table. */
  path?: string;
}

export interface ServicesOptions {
  /** A services file other than the system's (tests, odd installs). */
  path?: string;
}

// glibc splits fields with isspace(): space, \t, \n, \v, \f, \r. A CR left by CRLF line ends is
// whitespace, so it disappears with the rest.
const FIELD_SEPARATOR = /[ \t\n\v\f\r]+/;
const PORT_PROTOCOL = /^([0-9]+)\/([A-Za-z0-9][A-Za-z0-9._+-]*)$/;
const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/;
const HAS_LETTER = /[A-Za-z]/;

/**
 * A name that can stand in a services file and be typed instead of a port: printable ASCII with
 * no `/` (which would read as port/protocol), and at least one letter as IANA requires, so no
 * name can be mistaken for a port number.
 */
function isServiceName(token: string): boolean {
  return PRINTABLE_TOKEN.test(token) && !token.includes('/') && !token.includes('#') && HAS_LETTER.test(token);
}

/**
 * `name port/protocol [aliases...] [# comment]`, one entry a line, in file order (lookups take the
 * first match, as glibc's files backend does). Lines glibc would skip are skipped, and so are a
 * few it would take: ports above 65535 (glibc keeps their low 16 bits, so 70000 would mean 4464)
 * and names that are not a printable ASCII word with a letter in it. Nothing is thrown.
 */
export function parseServices(text: string): ServiceEntry[] {
  const entries: ServiceEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseServiceLine(line);
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

function parseServiceLine(line: string): ServiceEntry | null {
  // as in glibc, a '#' anywhere ends the line, even inside what looks like a name
  const hash = line.indexOf('#');
  const content = (hash === -1 ? line : line.slice(0, hash)).trim();
  if (content === '') return null;
  const [name, portProtocol, ...rest] = content.split(FIELD_SEPARATOR);
  if (name === undefined || portProtocol === undefined || !isServiceName(name)) return null;
  const match = PORT_PROTOCOL.exec(portProtocol);
  if (match === null) return null;
  const port = Number(match[1]);
  if (port > 65535) return null;
  const aliases: string[] = [];
  for (const alias of rest) {
    // an alias that could not be typed as a name is dropped, the entry kept
    if (isServiceName(alias) && alias !== name && !aliases.includes(alias)) aliases.push(alias);
  }
  return { name, port, protocol: match[2]!.toLowerCase(), aliases };
}

/** Where the C library reads services: /etc/services, or the same format under SystemRoot on Windows. */
export function defaultServicesPath(): string {
  return platform().servicesPath();
}

interface ServicesTable {
  loaded: LoadedServices;
  /** Name and alias → entries in file order, so "first match" is the first element. */
  byName: Map<string, ServiceEntry[]>;
  byPort: Map<number, ServiceEntry[]>;
}

// The file changes rarely and a large one takes a noticeable moment to parse, so each path is
// read once per process.
const tables = new Map<string, ServicesTable>();
let builtinTable: ServicesTable | undefined;

/** Forgets every services file read so far (tests, or after the file changed). */
export function clearServicesCache(): void {
  tables.clear();
  unparsed.clear();
}

/**
 * The system's services, or the built-in table when the file is missing, unreadable or has no
 * entry at all: minimal container images often ship without /etc/services.
 */
export function loadServices(options: ServicesOptions = {}): LoadedServices {
  return servicesTable(options).loaded;
}

// A file read for lookups of one port (entriesOnPort) and not parsed yet: its text, kept for the
// table if it comes to that (null when unreadable, or when it has no entry, whose table is the
// built-in one either way), and how many lookups scanned it. After SCANS_BEFORE_TABLE of them
// (check 8000-9000 makes one per port) the table is parsed.
const unparsed = new Map<string, { text: string | null; scans: number }>();
const SCANS_BEFORE_TABLE = 8;

function servicesTable(options: ServicesOptions): ServicesTable {
  const path = options.path ?? defaultServicesPath();
  let table = tables.get(path);
  if (table === undefined) {
    const text = readServicesFile(path);
    const entries = text === null ? [] : parseServices(text);
    table = entries.length > 0 ? indexServices({ entries, source: 'file', path }) : builtinServicesTable();
    tables.set(path, table);
    unparsed.delete(path);
  }
  return table;
}

/** The file's text, or null when it cannot be read (ENOENT, EACCES, EISDIR: all mean "answer from the built-in table"). */
function readServicesFile(path: string): string | null {
  const kept = unparsed.get(path);
  if (kept !== undefined) return kept.text;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The entries for `port` in file order, from the lines of a file not parsed yet that can hold one:
 * an entry's port field is its decimal digits and a `/`, so only a line where `<port>/` appears.
 * One lookup (the warning of `check 3000`) then costs a scan instead of a parse of every line.
 * null when the table answers instead: it is parsed already, or the file has no entry at all (the
 * built-in table stands in), or cannot be read.
 */
function entriesOnPort(options: ServicesOptions, port: number): ServiceEntry[] | null {
  const path = options.path ?? defaultServicesPath();
  if (tables.has(path)) return null;
  const kept = unparsed.get(path) ?? { text: withEntry(readServicesFile(path)), scans: 0 };
  if (kept.scans >= SCANS_BEFORE_TABLE) return null;
  kept.scans++;
  unparsed.set(path, kept);
  const { text } = kept;
  if (text === null) return null;
  const needle = `${port}/`;
  const entries: ServiceEntry[] = [];
  for (let at = text.indexOf(needle); at !== -1;) {
    const start = text.lastIndexOf('\n', at) + 1;
    const newline = text.indexOf('\n', at);
    const end = newline === -1 ? text.length : newline;
    const entry = parseServiceLine(text.slice(start, end));
    if (entry !== null && entry.port === port) entries.push(entry);
    at = newline === -1 ? -1 : text.indexOf(needle, end);
  }
  return entries;
}

/** The text where any line is an entry (the first found ends the search, near the top of a real file), else null. */
function withEntry(text: string | null): string | null {
  return text?.split('\n').some((line) => parseServiceLine(line) !== null) === true ? text : null;
}

function builtinServicesTable(): ServicesTable {
  // copies, so that builtinServices()'s entries and what loadServices hands out cannot change each other
  builtinTable ??= indexServices({
    entries: builtinServices().map((entry) => ({ ...entry, aliases: [...entry.aliases] })),
    source: 'builtin',
  });
  return builtinTable;
}

function indexServices(loaded: LoadedServices): ServicesTable {
  const byName = new Map<string, ServiceEntry[]>();
  const byPort = new Map<number, ServiceEntry[]>();
  for (const entry of loaded.entries) {
    for (const key of [entry.name, ...entry.aliases]) append(byName, key, entry);
    append(byPort, entry.port, entry);
  }
  return { loaded, byName, byPort };
}

function append<Key>(map: Map<Key, ServiceEntry[]>, key: Key, entry: ServiceEntry): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [entry]);
  else list.push(entry);
}

const FILE_SOURCE = { source: 'file' } as const;

function firstMatch(from: { source: ServiceSource }, entries: ServiceEntry[] | undefined, protocol: string | undefined): ServiceLookup | null {
  const wanted = protocol?.toLowerCase();
  const entry = entries?.find((candidate) => wanted === undefined || candidate.protocol === wanted);
  return entry === undefined ? null : { ...entry, aliases: [...entry.aliases], source: from.source };
}

/**
 * getservbyname: the first entry, in file order, whose name or alias is `name` (compared
 * case-sensitively, as glibc does: `HTTP` is not `http`), for `protocol` or for any protocol.
 * The protocol is compared lower-cased, unlike glibc, because entries are stored lower-cased.
 */
export function getServiceByName(name: string, protocol?: string, options: ServicesOptions = {}): ServiceLookup | null {
  if (typeof name !== 'string') throw new PortclashError('ERR_INVALID_ARGUMENT', `a service name must be a string, got ${JSON.stringify(name) ?? typeof name}`);
  const table = servicesTable(options);
  return firstMatch(table.loaded, table.byName.get(name), protocol);
}

/** getservbyport: the first entry for `port`, for `protocol` or for any protocol. */
export function getServiceByPort(port: number, protocol?: string, options: ServicesOptions = {}): ServiceLookup | null {
  const wanted = parsePort(port);
  const found = entriesOnPort(options, wanted);
  if (found !== null) return firstMatch(FILE_SOURCE, found, protocol);
  const table = servicesTable(options);
  return firstMatch(table.loaded, table.byPort.get(wanted), protocol);
}

/** Every entry for `port`, every protocol, in file order. */
export function getServicesByPort(port: number, options: ServicesOptions = {}): ServiceLookup[] {
  const wanted = parsePort(port);
  const found = entriesOnPort(options, wanted);
  const table = found === null ? servicesTable(options) : null;
  const { source } = table?.loaded ?? FILE_SOURCE;
  return (found ?? table?.byPort.get(wanted) ?? []).map((entry) => ({ ...entry, aliases: [...entry.aliases], source }));
}

/**
 * What a user gave where a port goes: a number, decimal text (`8080`) or a service name (`http`, `www`).
 * A name is looked up for `protocol`, else for tcp first and then any protocol; a name the file
 * lacks is then looked up in the built-in table, because Debian's file, for one, has no
 * `mongodb`. `service` is the entry's official name, and is present only when a name was given.
 */
export function parsePortOrService(input: number | string, protocol?: 'tcp' | 'udp', options: ServicesOptions = {}): { port: number; service?: string } {
  if (typeof input !== 'string' || /^[0-9]+$/.test(input)) return { port: parsePort(input) };
  if (!isServiceName(input)) {
    throw new PortclashError('ERR_INVALID_PORT', `expected a port from 0 to 65535 or a service name like 'http', got ${JSON.stringify(input)}`);
  }
  const table = servicesTable(options);
  const tried = table.loaded.source === 'file' ? [table, builtinServicesTable()] : [table];
  for (const candidate of tried) {
    const entries = candidate.byName.get(input);
    const entry =
      protocol !== undefined
        ? firstMatch(candidate.loaded, entries, protocol)
        : (firstMatch(candidate.loaded, entries, 'tcp') ?? firstMatch(candidate.loaded, entries, undefined));
    if (entry !== null) return { port: entry.port, service: entry.name };
  }
  throw unknownService(input, protocol, table, options.path ?? defaultServicesPath());
}

function unknownService(name: string, protocol: string | undefined, table: ServicesTable, path: string): PortclashError {
  const what = protocol === undefined ? 'service' : `${protocol} service`;
  const where = table.loaded.source === 'file' ? `${path} (or the built-in table)` : `the built-in table (${path} is missing, unreadable or has no entries)`;
  // glibc compares names exactly; say so when only the case is wrong
  const lower = name.toLowerCase();
  const hint =
    lower !== name && (table.byName.has(lower) || builtinServicesTable().byName.has(lower))
      ? `; names are case-sensitive, did you mean '${lower}'?`
      : '; give the port number instead';
  return new PortclashError('ERR_UNKNOWN_SERVICE', `no ${what} named '${name}' in ${where}${hint}`);
}

/**
 * The built-in table's lines, copied from Debian's netbase file (names as IANA registers them,
 * Debian's aliases), which is why 143 is `imap2` with alias `imap`; the last two are IANA names
 * that netbase does not carry.
 */
const BUILTIN_SERVICES_TEXT = `
ftp-data	20/tcp
ftp		21/tcp
ssh		22/tcp
telnet		23/tcp
smtp		25/tcp		mail
domain		53/tcp
domain		53/udp
bootps		67/udp
bootpc		68/udp
tftp		69/udp
http		80/tcp		www
kerberos	88/tcp		kerberos5 krb5 kerberos-sec
kerberos	88/udp		kerberos5 krb5 kerberos-sec
pop3		110/tcp		pop-3
sunrpc		111/tcp		portmapper
sunrpc		111/udp		portmapper
auth		113/tcp		authentication tap ident
nntp		119/tcp		readnews untp
ntp		123/udp
netbios-ns	137/udp
netbios-dgm	138/udp
netbios-ssn	139/tcp
imap2		143/tcp		imap
snmp		161/tcp
snmp		161/udp
snmp-trap	162/tcp		snmptrap
snmp-trap	162/udp		snmptrap
bgp		179/tcp
ldap		389/tcp
ldap		389/udp
https		443/tcp
https		443/udp
microsoft-ds	445/tcp
submissions	465/tcp		ssmtp smtps urd
syslog		514/udp
submission	587/tcp
ipp		631/tcp
ldaps		636/tcp
ldaps		636/udp
domain-s	853/tcp
domain-s	853/udp
rsync		873/tcp
imaps		993/tcp
pop3s		995/tcp
socks		1080/tcp
openvpn		1194/tcp
openvpn		1194/udp
ms-sql-s	1433/tcp
l2f		1701/udp	l2tp
radius		1812/tcp
radius		1812/udp
nfs		2049/tcp
nfs		2049/udp
mysql		3306/tcp
ms-wbt-server	3389/tcp
sip		5060/tcp
sip		5060/udp
mdns		5353/udp
postgresql	5432/tcp	postgres
amqp		5672/tcp
amqp		5672/sctp
x11		6000/tcp	x11-0
redis		6379/tcp
http-alt	8080/tcp	webcache
git		9418/tcp
memcache	11211/tcp
mongodb		27017/tcp
`;

let builtin: readonly ServiceEntry[] | undefined;

/**
 * The common services, so answers do not depend on an image shipping /etc/services (parsed on
 * first use, not at every start-up). Do not change the entries: they are the table itself.
 */
export function builtinServices(): readonly ServiceEntry[] {
  builtin ??= parseServices(BUILTIN_SERVICES_TEXT);
  return builtin;
}
