/**
 * Where a bench process's memory goes, sampled while it runs: resident memory split into anonymous
 * pages (JS heaps of the main thread and the workers, native allocations, buffers) and file-backed
 * pages (LMDB's memory map, code), and the main isolate's heap and off-heap buffers. The peak of each
 * figure is kept; they need not peak at the same moment.
 */
import { readFileSync } from "node:fs"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"

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
  /** Main isolate: heap in use right after a full (mark-compact) collection — the live data, not garbage. */
  readonly liveHeapMB: number
  /** Main isolate: time in garbage collection pauses (s) and the number of full collections. */
  readonly gcSeconds: number
  readonly fullGcs: number
  /** Main isolate: the heap's size limit (old space as capped by `--max-old-space-size`, plus young space). */
  readonly heapLimitMB: number
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
  let liveHeap = 0
  let gcMs = 0
  let fullGcs = 0
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration
      const kind = (entry as { readonly detail?: { readonly kind?: number } }).detail?.kind
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        fullGcs++
        liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed / MB)
      }
    }
  })
  gcs.observe({ entryTypes: ["gc"] })
  sample()
  const timer = setInterval(sample, intervalMs)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      gcs.disconnect()
      sample()
      const hwm = procStatus().hwm
      return {
        rssMB: hwm > 0 ? hwm : process.resourceUsage().maxRSS / 1024,
        rssAnonMB: rssAnon,
        rssFileMB: rssFile,
        heapUsedMB: heapUsed,
        heapTotalMB: heapTotal,
        arrayBuffersMB: arrayBuffers,
        liveHeapMB: liveHeap,
        gcSeconds: gcMs / 1000,
        fullGcs,
        heapLimitMB: getHeapStatistics().heap_size_limit / MB
      }
    }
  }
}

/** Resident memory now, in MB: total, anonymous, file-backed, and the main isolate's heap in use. */
export const memoryNow = (): { readonly rssMB: number; readonly rssAnonMB: number; readonly rssFileMB: number; readonly heapUsedMB: number } => {
  const status = procStatus()
  const usage = process.memoryUsage()
  return { rssMB: usage.rss / MB, rssAnonMB: status.anon, rssFileMB: status.file, heapUsedMB: usage.heapUsed / MB }
}

/** Resident MB per mapped file (the largest first), from /proc/self/smaps: what the file-backed part is. */
export const residentByFile = (top = 6): ReadonlyArray<readonly [file: string, mb: number]> => {
  const byFile = new Map<string, number>()
  try {
    let file = ""
    for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
      const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
      if (mapping !== null) file = mapping[1] === "" ? "[anon]" : (mapping[1] as string)
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss !== null) byFile.set(file, (byFile.get(file) ?? 0) + Number(rss[1]) / 1024)
    }
  } catch {
    return []
  }
  return [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
}
