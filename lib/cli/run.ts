// The `portclash` command line: picks the subcommand, prints errors as one line, returns the exit code.
import { readFileSync } from 'node:fs';

import { PortclashError } from '../errors.js';
import { loadPlatform } from '../platform.js';
import { EXIT, type CommandIO } from './io.js';
/** A command: its help text and its run function, from a module loaded only when the command is used. */
interface Command {
  help: string;
  run(args: string[], io: CommandIO): Promise<number>;
}

// Each command's module is imported only when it runs (or its help is asked for): `check` does not pay for `free` or Prometheus.
const COMMANDS: Record<string, () => Promise<Command>> = {
  check: async () => {
    const { CHECK_HELP, runCheck } = await import('./check.js');
    return { help: CHECK_HELP, run: runCheck };
  },
  ephemeral: async () => {
    const { EPHEMERAL_HELP, runEphemeral } = await import('./ephemeral.js');
    return { help: EPHEMERAL_HELP, run: runEphemeral };
  },
  forwards: async () => {
    const { FORWARDS_HELP, runForwards } = await import('./forwards.js');
    return { help: FORWARDS_HELP, run: runForwards };
  },
  free: async () => {
    const { FREE_HELP, runFree } = await import('./free.js');
    return { help: FREE_HELP, run: runFree };
  },
  info: async () => {
    const { INFO_HELP, runInfo } = await import('./info.js');
    return { help: INFO_HELP, run: runInfo };
  },
  list: async () => {
    const { LIST_HELP, runList } = await import('./list.js');
    return { help: LIST_HELP, run: runList };
  },
  pick: async () => {
    const { PICK_HELP, runPick } = await import('./pick.js');
    return { help: PICK_HELP, run: runPick };
  },
  ports: async () => {
    const { PORTS_HELP, runPorts } = await import('./ports.js');
    return { help: PORTS_HELP, run: runPorts };
  },
  preflight: async () => {
    const { PREFLIGHT_HELP, runPreflight } = await import('./preflight.js');
    return { help: PREFLIGHT_HELP, run: runPreflight };
  },
  wait: async () => {
    const { WAIT_HELP, runWait } = await import('./wait.js');
    return { help: WAIT_HELP, run: runWait };
  },
  who: async () => {
    const { WHO_HELP, runWho } = await import('./who.js');
    return { help: WHO_HELP, run: runWho };
  },
};

const MAIN_HELP = `Usage: portclash <command> [options]

Will this port be free, and if not, who holds it and why? Reads the kernel's socket tables.

Commands:
  check     will bind()+listen() on a port succeed, and if not, why and who is in the way
  info      what a port means here: services, class, ephemeral range, holders, bind prediction
  ephemeral the ephemeral port range and how close outgoing connections are to exhausting it
  forwards  NAT rules (DNAT, redirect) that send a port's packets elsewhere, though bind() succeeds
  free      end the processes holding a port (asks first; a supervised one gets its stop command)
  list      list sockets (protocol, five-tuple, state, uid; --owners adds the processes)
  pick      print free ports for a server or a test run, from the tables, never binding
  ports     every socket a process holds (by pid or exact name; --children adds its descendants')
  preflight check every port a project needs (arguments, package.json or portclash.json), for CI
  wait      wait until a port is listening (or, with --free, free), from the tables, never connecting
  who       which processes hold a port, or why they cannot be named
  help      show help for a command

Run 'portclash <command> --help' for a command's options.
Exit status: 0 success, 2 usage error, 4 the kernel's tables could not be read, 5 wait timed out.
`;

export async function runCli(argv: string[], io: CommandIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.stderr(MAIN_HELP);
      return EXIT.usage;
    }
    if (command === '--help' || command === '-h') {
      io.stdout(MAIN_HELP);
      return EXIT.ok;
    }
    if (command === '--version' || command === '-V') {
      io.stdout(`${readVersion()}\n`);
      return EXIT.ok;
    }
    if (command === 'help') {
      const load = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
      io.stdout(load === undefined ? MAIN_HELP : (await load()).help);
      return rest[0] === undefined || load !== undefined ? EXIT.ok : EXIT.usage;
    }
    const load = COMMANDS[command];
    if (load === undefined) {
      throw new PortclashError('ERR_USAGE', `unknown command '${command}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    }
    const [loaded] = await Promise.all([load(), loadPlatform()]);
    return await loaded.run(rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CommandIO): number {
  if (error instanceof PortclashError) {
    io.stderr(`portclash: ${error.code}: ${error.message}\n`);
    const usage = [
      'ERR_USAGE',
      'ERR_INVALID_PORT',
      'ERR_INVALID_ARGUMENT',
      'ERR_INVALID_HOST',
      'ERR_UNKNOWN_SERVICE',
      'ERR_NO_SUCH_NETNS',
      'ERR_NOT_A_NETNS',
    ].includes(error.code);
    return usage ? EXIT.usage : EXIT.failure;
  }
  io.stderr(`portclash: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.failure;
}

function readVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}
