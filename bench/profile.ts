// Summarizes the V8 CPU profiles written with --cpu-prof: self time per function and per package.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
}

export interface ProfileSummary {
  totalSamples: number;
  functions: { name: string; share: number }[];
  packages: { name: string; share: number }[];
}

/** Where code comes from: a package in node_modules, the project's own file, or Node's internals. */
function origin(url: string): string {
  if (url === '') return '(native / idle / GC)';
  if (url.startsWith('node:')) return 'node:internal';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] as string;
  const own = /\/(src|dist)\/(.+)$/.exec(url);
  return own ? `restore-guard ${own[2]}` : url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
    const pkg = origin(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  }
  const ranked = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, share: total > 0 ? hits / total : 0 }));
  return { totalSamples: total, functions: ranked(byFunction), packages: ranked(byPackage) };
}

export async function summarizeProfiles(dir: string): Promise<void> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    files = [];
  }
  if (files.length === 0) {
    process.stderr.write(`[bench] no CPU profile found in ${dir}\n`);
    return;
  }
  for (const file of files) {
    const summary = summarizeProfile(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile);
    const lines = [
      `\nCPU profile ${join(dir, file)} (${summary.totalSamples} samples; self time)`,
      ...summary.packages.slice(0, 12).map((p) => `  ${(p.share * 100).toFixed(1).padStart(5)} %  ${p.name}`),
      '  -- functions --',
      ...summary.functions.map((f) => `  ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

// `node profile.js DIR`: summarize profiles written earlier.
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  await summarizeProfiles(process.argv[2] ?? '.');
}
