/**
 * Where a bench process's memory goes, sampled while it runs: resident memory split into anonymous
 * pages (JS heaps of the main thread and the workers, native allocations, buffers) and file-backed
 * pages (LMDB's memory map, code), and the main isolate's heap and off-heap buffers. The peak of each
 * figure is kept; they need not peak at the same moment.
 */
import { readFileSync } from "node:fs"

/** Peak of each figure over the sampling window, in MB (MiB). */
export interface MemoryPeaks {
  /** VmHWM: the process's peak resident memory, every thread included (what the kernel saw). */
  readonly rssMB: number
  /** Anonymous resident pages: JS heaps (main and workers), native memory, buffers. */
  readonly rssAnonMB: number
  /** File-backed resident pages: LMDB's map, the binaries. */
  readonly rssFileMB: number
  /** Main isolate: V8 heap in use / reserved. */
  readonly heapUsedMB: number
  readonly heapTotalMB: number
  /** Main isolate: memory of ArrayBuffers and Buffers (block bytes, gRPC messages), outside the V8 heap. */
  readonly arrayBuffersMB: number
}

const MB = 1024 * 1024

/** The kB figures of /proc/self/status we read (Linux); zeros elsewhere. */
const procStatus = (): { readonly hwm: number; readonly anon: number; readonly file: number } => {
  try {
    const text = readFileSync("/proc/self/status", "utf8")
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) / 1024
    return { hwm: kb("VmHWM"), anon: kb("RssAnon"), file: kb("RssFile") }
  } catch {
    return { hwm: 0, anon: 0, file: 0 }
  }
}

/** Starts sampling every `intervalMs`; `stop` gives the peaks (and ends the sampling). */
export const startMemorySampler = (intervalMs = 50): { readonly stop: () => MemoryPeaks } => {
  let rssAnon = 0
  let rssFile = 0
  let heapUsed = 0
  let heapTotal = 0
  let arrayBuffers = 0
  const sample = () => {
    const status = procStatus()
    const usage = process.memoryUsage()
    rssAnon = Math.max(rssAnon, status.anon)
    rssFile = Math.max(rssFile, status.file)
    heapUsed = Math.max(heapUsed, usage.heapUsed / MB)
    heapTotal = Math.max(heapTotal, usage.heapTotal / MB)
    arrayBuffers = Math.max(arrayBuffers, usage.arrayBuffers / MB)
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      const hwm = procStatus().hwm
      return {
        rssMB: hwm > 0 ? hwm : process.resourceUsage().maxRSS / 1024,
        rssAnonMB: rssAnon,
        rssFileMB: rssFile,
        heapUsedMB: heapUsed,
        heapTotalMB: heapTotal,
        arrayBuffersMB: arrayBuffers
      }
    }
  }
}
