// `cc usage`: tasks, tokens, cost and duration, added up.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class UsageCommand extends RouterCommand {
  static override paths = [["usage"]];

  static override usage = Command.Usage({
    description: "Add up what tasks cost",
    details: `
      Adds up the ended tasks created since \`--since\` (default: midnight UTC today, the window of the daily budget): how many, their tokens (input, output, prompt cache), their cost and how long claude ran, grouped \`--by\` owner (default), model or worker, most expensive first, with a total.

      Cost and tokens are claude's own estimate, from each task's result summary (\`total_cost_usd\`), the same figures the router's budgets count. A \`user\` sees its own tasks only; an admin sees everyone's. Only the tasks the router still keeps are counted (CC_RETAIN_TASKS, CC_RETAIN_AGE).

      \`--json\` prints \`{since, by, groups: [...], total}\`, each with tasks, inputTokens, outputTokens, cacheCreationInputTokens, cacheReadInputTokens, costUsd and durationMs.
    `,
    examples: [
      ["Today's cost per owner", "$0 usage"],
      ["The last week, per model", "$0 usage --since 168h --by model"],
      ["As JSON, for a script", "$0 usage --json | jq .total.costUsd"],
    ],
  });

  since = ValueOption.String("--since <when>", { description: "Tasks created since then: a duration ago (30m, 24h) or a time (default: midnight UTC)" });
  by = ValueOption.String("--by <group>", { description: "Group by owner, model or worker (default owner)" });
  json = Option.Boolean("--json", false, { description: "Print the totals as JSON" });

  async execute(): Promise<number> {
    const { usageCommand, usageQuery } = await import("../lib/usage.js");
    const flags = { since: this.since, by: this.by };
    const query = usageQuery(flags, Date.now());
    return this.withRouter((c) => usageCommand(c, flags, this.json, query));
  }
}
