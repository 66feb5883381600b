/**
 * Serves the built dashboard (Vite output, `dist/web`) at `/`: fixed content types, no path
 * outside the root (the decoded path is resolved and must stay under it), and any unknown path
 * without a file extension falls back to index.html so the page's own routes survive a reload.
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** `dist/web` beside the compiled server (dist/src/control/api/static.js → dist/web). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

/**
 * Answers a GET/HEAD for a dashboard file; false when the request is not the dashboard's
 * (the API's 404 then applies).
 * @example
 * if (await serveStatic(req, res, url.pathname, DEFAULT_WEB_ROOT)) return;
 */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string, root: string): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return false;
  }
  if (rel.includes('\0')) return false;
  const base = resolve(root);
  let file = resolve(join(base, rel));
  if (file !== base && !file.startsWith(base + sep)) return false;
  let found = await isFile(file);
  if (!found && extname(rel) === '') {
    file = join(base, 'index.html');
    found = await isFile(file);
  }
  if (!found) return false;
  const body = await readFile(file);
  const hashed = /\/assets\//.test(rel);
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'X-Content-Type-Options': 'nosniff',
    // Vite puts content hashes in asset names: those never change; index.html always revalidates.
    'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
