// `portclash preflight`: every port a project needs, from its arguments or its config, checked in one batch for CI and prestart.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { PortclashError } from '../errors.js';
import { predictBinds, VERDICT_SEVERITY } from '../predict/index.js';
import { formatExposition, predictionMetrics } from '../prometheus.js';
import type { BindRequest, Prediction } from '../predict/types.js';
import { parsePortOrService } from '../services.js';
import { HELP_OPTION, parseCommandArgs, splitPortProtocol } from './args.js';
import { dependsOn, describePrediction, shorten } from './format.js';
import { EXIT, type CommandIO } from './io.js';
import { emit } from './output.js';

export const PREFLIGHT_HELP = `Usage: portclash preflight [--config <file>] [--format text|json|github|prometheus] [--strict] [--probe]
                           [--output <file>] [<port|service>[/tcp|/udp]...]

Checks every port a project needs in one batch: will bind()+listen() succeed on each, and if not,
who is in the way. The ports come from the arguments; without them, from the "portclash" field of
./package.json, else from ./portclash.json (or from --config <file>):

  { "ports": [3000, "http", "5353/udp",
              { "port": 5432, "label": "postgres", "protocol": "tcp", "host": "127.0.0.1",
                "reuseAddr": false, "reusePort": false, "ipv6Only": false, "listen": true }] }

An entry is a port number, a string (a port or service name, with /tcp or /udp), or an object whose
only required key is "port"; the others default as in 'check' (Node's server.listen(port)).

Options:
      --config <file>   read the ports from this JSON file (same shape as portclash.json)
      --format <fmt>    text (default): one line per port; json: { ok, ports: [...] };
                        github: GitHub Actions annotations (::error, ::warning, ::notice);
                        prometheus: portclash_bind_verdict and portclash_bind_conflict_info in
                        Prometheus' text format, labelled by port, protocol, host and label
      --output <file>   write to <file> instead of stdout, atomically (a temporary file beside it,
                        then renamed), as node_exporter's textfile collector wants (*.prom)
      --strict          an unknown answer fails too (exit 3) instead of being a warning
      --probe           settle an unknown answer with a trial bind, as 'check --probe' does
  -h, --help            show this help

Exit status: 0 every port is free (or only unknown, without --strict), 1 a bind would fail,
2 usage error or a bad config, 3 unknown with --strict, 4 the tables could not be read (or --output
could not be written). The same with every --format.
`;

const OPTIONS = {
  ...HELP_OPTION,
  config: { type: 'string' },
  format: { type: 'string' },
  strict: { type: 'boolean' },
  probe: { type: 'boolean' },
  output: { type: 'string' },
} as const;

const FORMATS = ['text', 'json', 'github', 'prometheus'] as const;

// More ports than this in a project's list is a mistake more often than a wish (as in `check`).
const MAX_PORTS = 4096;

/** One port to check, with the name to show it by. */
export interface PreflightEntry {
  request: BindRequest & { port: number; protocol: 'tcp' | 'udp' };
  label: string | null;
}

export async function runPreflight(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(PREFLIGHT_HELP);
    return EXIT.ok;
  }
  const format = values.format ?? 'text';
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new PortclashError('ERR_USAGE', `--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  }
  const strict = values.strict === true;
  // arguments win: a one-off check should not need the config to be valid
  const entries =
    positionals.length > 0 ? positionals.map((text, index) => parseEntry(text, `argument ${index + 1}`)) : readConfiguredEntries(values.config, process.cwd());
  if (entries.length > MAX_PORTS) throw new PortclashError('ERR_USAGE', `at most ${MAX_PORTS} ports at once, got ${entries.length}`);

  const predictions = await predictBinds(
    entries.map((entry) => entry.request),
    { probe: values.probe === true },
  );
  const code = exitCode(predictions, strict);
  const checked = entries.map((entry, index) => ({ label: entry.label, prediction: predictions[index]! }));
  const text =
    format === 'json'
      ? formatJson(checked, code === EXIT.ok)
      : format === 'github'
        ? formatGithub(checked, strict)
        : format === 'prometheus'
          ? formatExposition(predictionMetrics(checked))
          : formatText(checked);
  emit(io, text, values.output);
  return code;
}

function exitCode(predictions: readonly Prediction[], strict: boolean): number {
  const worst = Math.max(...predictions.map((prediction) => VERDICT_SEVERITY[prediction.verdict]));
  // "Unknowns are warnings by default, errors with --strict" (issue 13): a CI job should not fail on what cannot be seen unless asked
  return worst === 2 ? EXIT.negative : worst === 1 && strict ? EXIT.unknown : EXIT.ok;
}

/**
 * The ports of --config <file>; without it, of package.json's "portclash" field, else of
 * portclash.json, in `directory`. Neither there is a usage error saying where it looked.
 */
export function readConfiguredEntries(config: string | undefined, directory: string): PreflightEntry[] {
  if (config !== undefined) {
    const text = readText(resolve(directory, config), config);
    if (text === null) throw new PortclashError('ERR_USAGE', `--config ${config}: no such file`);
    return parseConfig(parseJson(text, config), config);
  }
  const manifest = readText(resolve(directory, 'package.json'), 'package.json');
  if (manifest !== null) {
    const parsed = parseJson(manifest, 'package.json');
    if (isObject(parsed) && parsed.portclash !== undefined) return parseConfig(parsed.portclash, 'package.json "portclash"');
  }
  const own = readText(resolve(directory, 'portclash.json'), 'portclash.json');
  if (own !== null) return parseConfig(parseJson(own, 'portclash.json'), 'portclash.json');
  throw new PortclashError(
    'ERR_USAGE',
    `preflight found no ports: none given as arguments, no "portclash" field in ${resolve(directory, 'package.json')}, and no ${resolve(directory, 'portclash.json')} (or pass --config <file>)`,
  );
}

/** The file's text, or null when it does not exist; other read errors are usage errors naming it. */
function readText(path: string, name: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PortclashError('ERR_USAGE', `${name}: cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new PortclashError('ERR_USAGE', `${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ENTRY_KEYS = ['port', 'label', 'protocol', 'host', 'reuseAddr', 'reusePort', 'ipv6Only', 'listen'] as const;
const BOOLEAN_KEYS = ['reuseAddr', 'reusePort', 'ipv6Only', 'listen'] as const;

/** `{ "ports": [...] }`, validated whole: every entry's error names the file and the entry's index. */
export function parseConfig(config: unknown, where: string): PreflightEntry[] {
  if (!isObject(config)) throw new PortclashError('ERR_INVALID_ARGUMENT', `${where} must be an object like { "ports": [3000] }, got ${typeName(config)}`);
  const extra = Object.keys(config).filter((key) => key !== 'ports');
  if (extra.length > 0) throw new PortclashError('ERR_INVALID_ARGUMENT', `${where}: unknown key ${JSON.stringify(extra[0])} (the only key is "ports")`);
  const { ports } = config;
  if (!Array.isArray(ports)) throw new PortclashError('ERR_INVALID_ARGUMENT', `${where}: "ports" must be an array like [3000, "http"], got ${typeName(ports)}`);
  if (ports.length === 0) throw new PortclashError('ERR_USAGE', `${where}: "ports" is empty; list the ports the project needs`);
  return ports.map((entry: unknown, index) => {
    const at = `${where}: ports[${index}]`;
    if (typeof entry === 'number') return withContext(at, () => entryFor(entry, undefined, {}, null));
    if (typeof entry === 'string') return parseEntry(entry, at);
    if (!isObject(entry)) throw new PortclashError('ERR_INVALID_ARGUMENT', `${at} must be a port, a service name or an object, got ${typeName(entry)}`);
    return parseObjectEntry(entry, at);
  });
}

function parseObjectEntry(entry: Record<string, unknown>, at: string): PreflightEntry {
  const unknownKey = Object.keys(entry).find((key) => !(ENTRY_KEYS as readonly string[]).includes(key));
  if (unknownKey !== undefined) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: unknown key ${JSON.stringify(unknownKey)} (keys: ${ENTRY_KEYS.join(', ')})`);
  }
  const { port, label, protocol, host } = entry;
  if (typeof port !== 'number' && typeof port !== 'string') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: "port" must be a port number or a service name, got ${typeName(port)}`);
  }
  if (label !== undefined && typeof label !== 'string')
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: "label" must be a string, got ${typeName(label)}`);
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: "protocol" must be "tcp" or "udp", got ${JSON.stringify(protocol)}`);
  }
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: "host" must be an address or host name, got ${JSON.stringify(host)}`);
  }
  const options: Omit<BindRequest, 'port' | 'protocol'> = host === undefined ? {} : { host };
  for (const key of BOOLEAN_KEYS) {
    const value = entry[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new PortclashError('ERR_INVALID_ARGUMENT', `${at}: "${key}" must be true or false, got ${JSON.stringify(value)}`);
    options[key] = value;
  }
  return withContext(at, () => entryFor(port, protocol, options, label ?? null));
}

/** `3000`, `http`, `3000/tcp`, `5353/udp`: from the command line or a string entry. */
function parseEntry(text: string, at: string): PreflightEntry {
  const target = splitPortProtocol(text);
  if (target === null) {
    throw new PortclashError('ERR_INVALID_PORT', `${at}: expected a port or service like 3000, http, 3000/tcp or 5353/udp, got ${JSON.stringify(text)}`);
  }
  return withContext(at, () => entryFor(target.port, target.protocol, {}, null));
}

function entryFor(
  port: number | string,
  protocol: 'tcp' | 'udp' | undefined,
  options: Omit<BindRequest, 'port' | 'protocol'>,
  label: string | null,
): PreflightEntry {
  const parsed = parsePortOrService(port, protocol);
  return { request: { ...options, port: parsed.port, protocol: protocol ?? 'tcp' }, label: label ?? parsed.service ?? null };
}

/** The library's port and service errors, with where the entry came from in front and their code kept. */
function withContext<T>(at: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof PortclashError) throw new PortclashError(error.code, `${at}: ${error.message}`, { cause: error });
    throw error;
  }
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : JSON.stringify(value);
}

interface Checked {
  label: string | null;
  prediction: Prediction;
}

/** describePrediction's line with the label after `3000/tcp`: `3000/tcp (api) in use — …`. */
function describeLabelled({ label, prediction }: Checked, clean: (text: string) => string): string {
  const line = describePrediction(prediction);
  if (label === null) return line;
  const head = `${prediction.port}/${prediction.protocol}`;
  return `${head} (${clean(label)})${line.slice(head.length)}`;
}

function formatText(checked: readonly Checked[]): string {
  return checked
    .map((entry) => [describeLabelled(entry, shorten), ...dependsOn(entry.prediction), ...entry.prediction.warnings.map((warning) => `  warning: ${warning}`)])
    .map((lines) => `${lines.join('\n')}\n`)
    .join('');
}

function formatJson(checked: readonly Checked[], ok: boolean): string {
  const ports = checked.map(({ label, prediction }) => {
    const holder = prediction.conflicts.find((socket) => 'owner' in socket && socket.owner !== null);
    const owner = holder !== undefined && 'owner' in holder ? holder.owner : null;
    return {
      label,
      port: prediction.port,
      protocol: prediction.protocol,
      host: prediction.host,
      verdict: prediction.verdict,
      errno: prediction.errno,
      reason: prediction.reason,
      ...(owner === null ? {} : { holder: { pid: owner.pid, command: owner.command, user: owner.user } }),
      assumptions: prediction.assumptions,
      warnings: prediction.warnings,
    };
  });
  return `${JSON.stringify({ ok, ports }, null, 2)}\n`;
}

const FIXES = {
  'in-use': 'stop it or choose another port',
  denied: 'choose another port, or give the process the right to bind it (see the reason)',
  unavailable: 'bind an address this host has, or the wildcard',
} as const;

/**
 * GitHub Actions workflow commands, one per port. The runner reads `::cmd props::data` up to the
 * end of the line: data escapes %, CR and LF; properties also `:` and `,`, which end a property.
 */
function formatGithub(checked: readonly Checked[], strict: boolean): string {
  return checked
    .map((entry) => {
      const { prediction } = entry;
      const command = prediction.verdict === 'free' ? 'notice' : prediction.verdict === 'unknown' ? (strict ? 'error' : 'warning') : 'error';
      const line = describeLabelled(entry, (label) => label);
      const fix = prediction.verdict === 'free' || prediction.verdict === 'unknown' ? null : `Fix: ${FIXES[prediction.verdict]}`;
      const message = [
        fix === null ? line : `${line}. ${fix}`,
        ...dependsOn(prediction).map((text) => text.trim()),
        ...prediction.warnings.map((warning) => `warning: ${warning}`),
      ].join('\n');
      const title = `portclash ${prediction.port}/${prediction.protocol}${entry.label === null ? '' : ` (${entry.label})`}`;
      return `::${command} title=${escapeProperty(title)}::${escapeData(message)}\n`;
    })
    .join('');
}

export function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

export function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C');
}
