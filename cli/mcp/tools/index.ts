// Every tool `cc mcp` serves, in the order clients list them. A new tool is a file beside this one and a line here.
import { answerPermission } from "./answer-permission.js";
import { cancelTask } from "./cancel-task.js";
import { getTask } from "./get-task.js";
import { listPermissionRequests } from "./list-permission-requests.js";
import { listTasks } from "./list-tasks.js";
import { listWorkers } from "./list-workers.js";
import { runTask } from "./run-task.js";
import { sendInput } from "./send-input.js";
import { taskDiff } from "./task-diff.js";
import { taskOutput } from "./task-output.js";
import { waitTasks } from "./wait-tasks.js";
import type { Tool } from "../tool.js";

export const TOOLS: readonly Tool[] = [runTask, waitTasks, getTask, taskOutput, taskDiff, listTasks, listWorkers, cancelTask, sendInput, listPermissionRequests, answerPermission] as unknown as readonly Tool[];
