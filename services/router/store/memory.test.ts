import { runTaskStoreContract } from "./contract.js";
import { MemoryTaskStore } from "./memory.js";

runTaskStoreContract("memory", { make: () => new MemoryTaskStore() });
