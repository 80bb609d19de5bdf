import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A directory laid out like a mounted Secret or ConfigMap volume, updated the way the kubelet's atomic
 * writer does it: a new timestamped directory, an atomic rename of the `..data` symlink, the old one removed.
 */
export class SecretVolume {
  private generation = 0;
  constructor(readonly dir: string) {}

  file(name: string): string {
    return join(this.dir, name);
  }

  write(files: Record<string, string>): void {
    const previous = readdirSync(this.dir).filter((name) => name.startsWith('..20'));
    const next = `..2026_01_01_00_00_00.${++this.generation}`;
    mkdirSync(join(this.dir, next));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, next, name), content);
    symlinkSync(next, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join('..data', name), join(this.dir, name));
      } catch {
        // already linked through ..data
      }
    }
    for (const old of previous) rmSync(join(this.dir, old), { recursive: true, force: true });
  }
}
