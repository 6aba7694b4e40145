// What the inspect and assist pages share: images fetched with the key and
// drawn on canvases, and annotations drawn in a frame's own pixels.
import { getToken, ApiError } from './api.js';

/** An image from the API as an ImageBitmap. */
export async function bitmap(url, signal) {
  const res = await fetch(url, { headers: { Authorization: 'Bearer ' + getToken() }, signal, cache: 'no-store' });
  if (!res.ok) throw new ApiError(res.status, 'image', 'The picture could not be loaded.');
  return createImageBitmap(await res.blob());
}

/** POSTs a JPEG body; resolves with the JSON reply or rejects with ApiError. */
export async function postJpeg(path, blob, signal) {
  const res = await fetch(path, { method: 'POST', body: blob, signal, cache: 'no-store',
    headers: { Authorization: 'Bearer ' + getToken(), 'Content-Type': 'image/jpeg' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body?.error?.code || 'http', body?.error?.message || `status ${res.status}`);
  return body;
}

/** Draws an annotation's shapes, given in a w x h frame's pixels, onto g
 * scaled to sx, sy. */
export function drawShapes(g, shapes, sx, sy, colour = '#ff3b30') {
  g.save();
  g.strokeStyle = colour;
  g.fillStyle = colour;
  g.lineWidth = 3;
  for (const s of shapes) {
    if (s.kind === 'box') g.strokeRect(s.x * sx, s.y * sy, s.w * sx, s.h * sy);
    else {
      const x1 = s.x * sx, y1 = s.y * sy, x2 = (s.x + s.w) * sx, y2 = (s.y + s.h) * sy;
      g.beginPath(); g.moveTo(x1, y1); g.lineTo(x2, y2); g.stroke();
      const a = Math.atan2(y2 - y1, x2 - x1);
      g.beginPath(); g.moveTo(x2, y2);
      g.lineTo(x2 - 12 * Math.cos(a - 0.4), y2 - 12 * Math.sin(a - 0.4));
      g.lineTo(x2 - 12 * Math.cos(a + 0.4), y2 - 12 * Math.sin(a + 0.4));
      g.closePath(); g.fill();
    }
  }
  g.restore();
}
