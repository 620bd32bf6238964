/**
 * Preloaded into every node process the chaos runner starts (`--import`, nodeProcess.ts): the process
 * ends itself once its parent is gone — a runner killed with SIGKILL, or a test worker torn down, runs
 * no exit hook — so no node outlives the run that started it. An orphan is re-parented (to init or a
 * subreaper), which changes `process.ppid`. Plain JavaScript: Node preloads it into the node's worker
 * threads too, where the TypeScript loader is not registered yet.
 */

/** How often the parent is looked for; also the longest an orphan lives. */
const CHECK_INTERVAL_MS = 500

const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGKILL")
}, CHECK_INTERVAL_MS).unref()
