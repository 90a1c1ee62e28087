// The glue between a task and its environment: setup and maintenance run in the task's own sandbox (its network
// and egress policy, its private HOME, its workspace) with claude's environment minus the credentials claude uses,
// and report as SETTING_UP status events.
import { tmpdir } from "node:os";
import { Phase } from "../../../gen/claudecluster/v1/run_pb.js";
import { gitEnv } from "../repo-clone.js";
import { TASK_ID_ENV } from "../process-tree.js";
import type { TaskEnvironment } from "../task-isolation.js";
import type { TaskRun } from "../task-run.js";
import type { Environments, Prepared } from "./index.js";

/** claude's own variables: a setup script has no business with the model's endpoint or key. */
const CLAUDE_ONLY_ENV = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"];

export function prepareEnvironment(
  environments: Environments,
  task: TaskRun,
  environment: TaskEnvironment,
  o: { repository: string; gitSource: NodeJS.ProcessEnv },
): Promise<Prepared> {
  let settingUp = false;
  return environments.prepare({
    taskId: task.taskId,
    workspace: task.workspace,
    repository: o.repository,
    noCache: task.request.noCache,
    secrets: task.request.setupSecrets,
    signal: task.stopSignal,
    scriptSpec: (argv, env) => {
      const spec = environment.claudeSpec(argv, { newSession: true, taskEnv: env });
      for (const key of CLAUDE_ONLY_ENV) delete spec.env[key];
      return spec;
    },
    gitEnv: gitEnv(o.gitSource, { home: tmpdir(), token: "", extra: { [TASK_ID_ENV]: task.processTag } }),
    step: (detail) => {
      // The first step enters the phase (one status event), later ones are its progress.
      if (settingUp) task.progress(detail);
      else task.setPhase(Phase.SETTING_UP, detail);
      settingUp = true;
    },
    line: (text) => task.progress(text),
  });
}
