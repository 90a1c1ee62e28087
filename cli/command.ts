// The base of every cc command: failures become one line on stderr and an exit code from exit-codes.ts, never a
// stack trace. Commands that talk to a router share the --router/--token/--profile options.
import { Command, UsageError } from "clipanion";
import { ValueOption } from "./options.js";
import { ExitCode } from "./exit-codes.js";

export abstract class CcCommand extends Command {
  /** Set when execute() failed; main.ts exits with it. */
  failure: number | undefined;

  override async catch(error: unknown): Promise<void> {
    if (error instanceof UsageError) {
      this.context.stderr.write(`cc: ${error.message}\n`);
      this.failure = ExitCode.Usage;
      return;
    }
    const { describeError } = await import("./lib/errors.js");
    const { message, exitCode } = describeError(error, this.errorContext());
    this.context.stderr.write(`cc: ${message}\n`);
    // CC_DEBUG=1 shows where an unexpected error came from.
    if (this.context.env["CC_DEBUG"] && error instanceof Error && error.stack) this.context.stderr.write(`${error.stack}\n`);
    this.failure = exitCode;
  }

  /** What error messages may name: the router and the task a command is about. */
  protected errorContext(): { router: string; taskId?: string } {
    return { router: "" };
  }
}

export abstract class RouterCommand extends CcCommand {
  router = ValueOption.String("--router <url>", { description: "Router URL (default: CC_ROUTER_URL, then the active profile)" });
  token = ValueOption.String("--token <token>", { description: "Bearer token for the router (default: CC_TOKEN, then the active profile)" });
  profile = ValueOption.String("--profile <name>", { description: "Profile of the config file to use (default: CC_PROFILE, then `cc config use`)" });

  /** The router URL in use, once known, for error messages. */
  protected routerUrl = "";
  protected taskIdForErrors: string | undefined;

  protected connectionFlags() {
    return { router: this.router, token: this.token, profile: this.profile };
  }

  /** Opens the configured router (never an embedded one), runs `fn`, and closes the connection. */
  protected async withRouter<T>(fn: (c: import("./lib/task-commands.js").TaskCommandContext) => Promise<T>): Promise<T> {
    const { openRouter } = await import("./lib/router.js");
    const router = await openRouter(this.context.env, this.connectionFlags());
    this.routerUrl = router.url;
    try {
      return await fn({ io: this.context, client: router.client, router: router.url });
    } finally {
      await router.close();
    }
  }

  /** As withRouter, with the router's RoutineService too (`cc routine`, `cc watch`). */
  protected async withRoutines<T>(
    fn: (c: import("./lib/task-commands.js").TaskCommandContext & { routines: import("./lib/routines/client.js").RoutineClient }) => Promise<T>,
  ): Promise<T> {
    const [{ resolveConnection }, { connectRoutines }] = await Promise.all([import("./lib/connection.js"), import("./lib/routines/client.js")]);
    return this.withRouter(async (c) => {
      const routines = connectRoutines(c.router, resolveConnection(this.context.env, this.connectionFlags()).token);
      try {
        return await fn({ ...c, routines: routines.client });
      } finally {
        routines.close();
      }
    });
  }

  protected override errorContext(): { router: string; taskId?: string } {
    return { router: this.routerUrl || this.router || "(none)", ...(this.taskIdForErrors ? { taskId: this.taskIdForErrors } : {}) };
  }
}
