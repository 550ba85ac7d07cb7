/** Linux /proc readings: CPU time and RSS of other processes (Azurite, the children) and of the machine. Undefined elsewhere. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the bench targets

/** The pid of a child of this process whose command line contains `needle`. */
export function findChildPid(needle: string): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== process.pid) continue;
        if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(needle)) return Number(entry);
      } catch {
        // the process went away meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/** User + system CPU time of a process, in ms. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU time all processes on the machine spent busy (not idle or waiting for I/O), in ms. */
export function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** A process's resident set (VmRSS) and the kernel's high-water mark of it (VmHWM), in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const rss = kib('VmRSS');
    return Number.isFinite(rss) ? { rss, hwm: kib('VmHWM') } : undefined;
  } catch {
    return undefined;
  }
}

/** Resets a process's VmHWM to its current RSS (`clear_refs` = 5; allowed for one's own processes). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssWindow {
  /** RSS when the window opened. */
  start: number;
  /** Highest RSS sampled. */
  peak: number;
  /** The kernel's VmHWM at the end, when it could be reset at the start (it catches peaks between samples). */
  kernelPeak?: number;
  samples: number;
}

/**
 * Samples another process's RSS from /proc every `everyMs` until `stop()`, which answers the
 * window's start, sampled peak and (where the kernel allows resetting it) VmHWM. Undefined without /proc.
 */
export function sampleRss(pid: number, everyMs = 20): { stop(): RssWindow } | undefined {
  const first = memoryOf(pid);
  if (!first) return undefined;
  const reset = resetPeak(pid);
  let peak = first.rss;
  let samples = 1;
  const timer = setInterval(() => {
    const m = memoryOf(pid);
    if (!m) return;
    samples++;
    peak = Math.max(peak, m.rss);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const last = memoryOf(pid);
      if (last) peak = Math.max(peak, last.rss);
      return {
        start: first.rss,
        peak,
        kernelPeak: reset && last && Number.isFinite(last.hwm) ? last.hwm : undefined,
        samples: samples + 1,
      };
    },
  };
}
