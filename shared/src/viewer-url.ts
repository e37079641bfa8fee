/**
 * The viewer URL layout, a contract between the publisher and the box: a box announces an HTTP_URL
 * ending in '/', stores a publisher's file at <publisher-id>/<FILE_PATH> under its web root, and nginx
 * serves it at HTTP_URL + <publisher-id>/<FILE_PATH>. The publisher builds those URLs for playlists and
 * redirects; the box reads the publisher and file back out of the URIs in its access log.
 */
import { hostPort } from './bind-address.js';
import { isIdOf } from './protocol/messages.js';

/** The HTTP_URL a box announces for its viewer port: `http://<host>:<port>/`. */
export function boxHttpUrl(host: string, port: number): string {
  return `http://${hostPort(host, port)}/`;
}

/** Where a publisher's file sits under a box's web root (and BASE_DIRECTORY), unencoded: `<publisher-id>/<FILE_PATH>`. */
export function viewerPath(publisherId: string, filePath: string): string {
  return `${publisherId}/${filePath}`;
}

/** A FILE_PATH as a URL path: each name percent-encoded, so spaces, '"', '?' and '%' stay part of the name. */
export function encodeFilePath(filePath: string): string {
  return filePath.split('/').map(encodeURIComponent).join('/');
}

/** Where viewers fetch `filePath` of `publisherId` from the box whose HTTP_URL is `boxHttpUrl`. */
export function viewerUrl(boxHttpUrl: string, publisherId: string, filePath: string): string {
  const base = boxHttpUrl.endsWith('/') ? boxHttpUrl : `${boxHttpUrl}/`;
  return `${base}${encodeURIComponent(publisherId)}/${encodeFilePath(filePath)}`;
}

/**
 * The inverse, for a request URI a box served: the first path segment is the publisher when it is a
 * publisher ID (else publisher is ''), the file is the rest, without query string or leading '/',
 * URI-decoded unless the escapes are invalid (then kept as sent).
 */
export function parseViewerPath(uri: string): { publisher: string; file: string } {
  const pathPart = (uri.split('?', 1)[0] ?? '').replace(/^\/+/, '');
  const slash = pathPart.indexOf('/');
  const first = decodeOrKeep(slash < 0 ? pathPart : pathPart.slice(0, slash));
  if (isIdOf(first, 'PUBLISHER')) return { publisher: first, file: decodeOrKeep(slash < 0 ? '' : pathPart.slice(slash + 1)) };
  return { publisher: '', file: decodeOrKeep(pathPart) };
}

function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // intentional: a malformed escape is still a request for that path; count it as sent
  }
}
