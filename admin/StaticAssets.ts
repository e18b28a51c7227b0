// The console's front end, read into memory once at start: the HTML and CSS from admin-ui/, the
// compiled modules from dist/admin-ui/. Only files found there are ever served — no path from a
// request reaches the file system.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The repository (or installed package) root: the nearest directory above holding package.json. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

export class StaticAssets {
  /** Keyed by URL path under /assets/ ("style.css", "pages/SessionsPage.js"). */
  private readonly assets = new Map<string, Asset>();
  readonly loginPage: Asset;
  readonly appPage: Asset;

  constructor(root = packageRoot()) {
    const ui = join(root, 'admin-ui');
    const page = (name: string): Asset => ({ body: readFileSync(join(ui, name)), type: TYPES['.html']! });
    this.loginPage = page('index.html');
    this.appPage = page('app.html');
    this.addTree(ui, ['.css', '.svg']);
    this.addTree(join(root, 'dist', 'admin-ui'), ['.js']);
  }

  get(path: string): Asset | undefined {
    return this.assets.get(path);
  }

  private addTree(dir: string, extensions: string[]): void {
    if (!existsSync(dir)) return;
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const file = join(d, name);
        if (statSync(file).isDirectory()) walk(file);
        else {
          const ext = name.slice(name.lastIndexOf('.'));
          if (extensions.includes(ext)) this.assets.set(relative(dir, file).split(sep).join('/'), { body: readFileSync(file), type: TYPES[ext]! });
        }
      }
    };
    walk(dir);
  }
}
