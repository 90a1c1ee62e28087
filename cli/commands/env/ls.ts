// `cc env ls`: the environment snapshots of the cluster's workers.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";
import { ValueOption } from "../../options.js";

export class EnvLsCommand extends RouterCommand {
  static override paths = [["env", "ls"], ["env", "list"]];

  static override usage = Command.Usage({
    description: "List the workers' environment snapshots",
    details: `
      A repository with a \`.claudecluster/environment.yaml\` is set up once per worker: the worker keeps the workspace its \`setup\` script left as a snapshot, and later tasks on that repository start from a copy of it. This lists every online worker's snapshots: key (its first 12 characters name it in \`cc env show\` and \`cc env rm\`), worker, size, age, when a task last started from it, how many did, and the repository.

      \`--json\` prints an array in the protobuf JSON form of \`claudecluster.v1.EnvironmentSnapshot\`.
    `,
    examples: [
      ["List snapshots", "$0 env ls"],
      ["One worker's, as JSON", "$0 env ls --worker w1 --json"],
    ],
  });

  worker = ValueOption.String("--worker <id>", { description: "Only this worker's snapshots" });
  json = Option.Boolean("--json", false, { description: "Print the snapshots as JSON" });

  async execute(): Promise<number> {
    const { listEnvironments } = await import("../../lib/environments.js");
    return this.withRouter((c) => listEnvironments(c, { json: this.json, worker: this.worker }));
  }
}
