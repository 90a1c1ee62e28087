// The cc program: its commands and how a command line becomes an exit code. Only clipanion and the command classes
// load here; each command imports what it needs when it runs, so `cc --help` starts fast.
import { Builtins, Cli, type BaseContext } from "clipanion";
import { VERSION } from "../services/common/version.js";
import { CcCommand } from "./command.js";
import { ApplyCommand } from "./commands/apply.js";
import { AttachCommand } from "./commands/attach.js";
import { BatchCommand } from "./commands/batch.js";
import { CancelCommand } from "./commands/cancel.js";
import { CompletionCommand } from "./commands/completion.js";
import { ContinueCommand } from "./commands/continue.js";
import { ConfigDeleteCommand } from "./commands/config/delete.js";
import { ConfigSetCommand } from "./commands/config/set.js";
import { ConfigShowCommand } from "./commands/config/show.js";
import { ConfigUseCommand } from "./commands/config/use.js";
import { CpCommand } from "./commands/cp.js";
import { DemoCommand } from "./commands/demo.js";
import { DiffCommand } from "./commands/diff.js";
import { EnvLsCommand } from "./commands/env/ls.js";
import { EnvRmCommand } from "./commands/env/rm.js";
import { EnvShowCommand } from "./commands/env/show.js";
import { LogsCommand } from "./commands/logs.js";
import { McpCommand } from "./commands/mcp.js";
import { LsCommand } from "./commands/ls.js";
import { PsCommand } from "./commands/ps.js";
import { RunCommand } from "./commands/run.js";
import { RoutineApplyCommand } from "./commands/routine/apply.js";
import { RoutineLsCommand } from "./commands/routine/ls.js";
import { RoutineRmCommand } from "./commands/routine/rm.js";
import { RoutineRunCommand } from "./commands/routine/run.js";
import { RoutineSaveCommand } from "./commands/routine/save.js";
import { RoutineShowCommand } from "./commands/routine/show.js";
import { WatchCommand } from "./commands/watch.js";
import { SendCommand } from "./commands/send.js";
import { ShowCommand } from "./commands/show.js";
import { TopCommand } from "./commands/top.js";
import { UpCommand } from "./commands/up.js";
import { UsageCommand } from "./commands/usage.js";
import { WaitCommand } from "./commands/wait.js";
import { WorkersCommand } from "./commands/workers.js";
import { ExitCode } from "./exit-codes.js";
import { helpColors } from "./help-request.js";
import { withValueNames } from "./options.js";

export const COMMANDS = [
  RunCommand,
  ContinueCommand,
  BatchCommand,
  AttachCommand,
  LogsCommand,
  PsCommand,
  TopCommand,
  ShowCommand,
  WaitCommand,
  SendCommand,
  CancelCommand,
  DiffCommand,
  ApplyCommand,
  CpCommand,
  LsCommand,
  WorkersCommand,
  EnvLsCommand,
  EnvShowCommand,
  EnvRmCommand,
  UsageCommand,
  McpCommand,
  UpCommand,
  DemoCommand,
  RoutineSaveCommand,
  RoutineApplyCommand,
  RoutineLsCommand,
  RoutineShowCommand,
  RoutineRunCommand,
  RoutineRmCommand,
  WatchCommand,
  CompletionCommand,
  ConfigSetCommand,
  ConfigUseCommand,
  ConfigShowCommand,
  ConfigDeleteCommand,
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

export { helpColors };

/** clipanion's Cli, with value names in usage texts (`--router <url>`, not `--router #0`; see options.ts). */
export class CcCli extends Cli {
  protected override getUsageByIndex(n: number, opts?: { detailed?: boolean; inlineOptions?: boolean }) {
    const text = super.getUsageByIndex(n, opts);
    const builder = [...this.registrations.values()].find((r) => r.index === n)?.builder;
    return builder ? withValueNames(text, builder.options) : text;
  }

  /** Usage errors quote the candidate commands' usage lines as clipanion's parser built them: named here too. */
  override error(error: unknown, opts?: Parameters<Cli["error"]>[1]): string {
    let text = super.error(error, opts);
    for (const { builder } of this.registrations.values()) {
      const raw = builder.usage();
      text = text.split(raw.usage).join(withValueNames(raw, builder.options).usage);
    }
    return text;
  }
}

/**
 * The commands a command line can mean: those whose path starts with its first word, or all of them when none does
 * (a typo gets suggestions from every command). clipanion compiles one state machine over what is registered, on
 * every start: over all 35 commands that took ~60 ms of `cc run`'s start-up, over one a few.
 */
export function commandsFor(argv: readonly string[]): typeof COMMANDS {
  const first = argv[0];
  // An option first (`--version`, `-h`) names no command but help or version, which are always there.
  if (first === undefined || first.startsWith("-")) return COMMANDS;
  const named = COMMANDS.filter((command) => command.paths?.some((path) => path[0] === first));
  return named.length === 0 ? COMMANDS : [...named, Builtins.HelpCommand, Builtins.VersionCommand];
}

/** The cc program; given the command line, with only the commands it can mean (commandsFor). */
export function createCli(binaryName = "cc", enableColors = false, argv?: readonly string[]): Cli {
  const cli = new CcCli({
    binaryLabel: "ClaudeCluster",
    binaryName,
    binaryVersion: VERSION,
    enableCapture: false,
    enableColors,
  });
  for (const command of argv ? commandsFor(argv) : COMMANDS) cli.register(command);
  return cli;
}

/**
 * Parses and runs one command line. A command line clipanion cannot parse is a usage error (exit 2, message on
 * stderr); a command's own failure carries the exit code it chose (see CcCommand.catch).
 */
export async function runCli(cli: Cli, argv: string[], context: Partial<BaseContext> = {}): Promise<number> {
  const base = { ...Cli.defaultContext, ...context };
  const colored = helpColors(base.stdout as { isTTY?: boolean }, base.env);
  const ctx = { ...base, colorDepth: colored ? Math.max(base.colorDepth, 8) : 1 };
  // `cc` alone lists the commands, like `cc --help`.
  if (argv.length === 0) argv = ["--help"];
  let command;
  try {
    command = cli.process(argv, ctx);
  } catch (err) {
    ctx.stderr.write(cli.error(err, { colored: colored && (ctx.stderr as { isTTY?: boolean }).isTTY === true }));
    return ExitCode.Usage;
  }
  const code = await cli.run(command, ctx);
  return command instanceof CcCommand && command.failure !== undefined ? command.failure : code;
}
