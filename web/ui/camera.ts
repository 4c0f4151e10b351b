// The webcam (getUserMedia), started and stopped by the person. Its image is taken as the centre
// square of the frame scaled to CAPTURE_SIDE pixels (what the preview shows): as a PNG for a
// class (lossless, so the page and `alexnet` read the same pixels from it), or as RGB pixels for
// live classification. The page never keeps the camera running on its own.
import type { Picture } from '../protocol.js';
import { $ } from './dom.js';

/** The side of a camera image: the stored side of the 224 and 227 crops, so no net is short of pixels. */
export const CAPTURE_SIDE = 256;

let stream: MediaStream | null = null;
const canvas = document.createElement('canvas');
canvas.width = canvas.height = CAPTURE_SIDE;
const context = canvas.getContext('2d', { willReadFrequently: true })!;
const video = () => $<HTMLVideoElement>('camera');

export const cameraOn = () => stream !== null;

export async function startCamera(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser gives the page no camera (getUserMedia needs a secure page: https, or localhost)');
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    const e = err as DOMException;
    throw new Error(e.name === 'NotAllowedError' ? 'the camera was not allowed: allow it for this page in the browser, then Start camera again' : `the camera could not start (${e.name}: ${e.message})`);
  }
  video().srcObject = stream;
  video().hidden = false;
  await video().play();
}

export function stopCamera(): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = null;
  video().srcObject = null;
  video().hidden = true;
}

/** Draws the camera's centre square onto the canvas; false before the first frame has come. */
function grab(): boolean {
  const v = video();
  if (!stream || v.videoWidth === 0) return false;
  const side = Math.min(v.videoWidth, v.videoHeight);
  context.drawImage(v, (v.videoWidth - side) / 2, (v.videoHeight - side) / 2, side, side, 0, 0, CAPTURE_SIDE, CAPTURE_SIDE);
  return true;
}

/** The camera's image now as PNG bytes, or null before its first frame. */
export async function framePng(): Promise<Uint8Array | null> {
  if (!grab()) return null;
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  return blob && new Uint8Array(await blob.arrayBuffer());
}

/** The camera's image now as RGB pixels, or null before its first frame. */
export function frameRgb(): Picture | null {
  if (!grab()) return null;
  const rgba = context.getImageData(0, 0, CAPTURE_SIDE, CAPTURE_SIDE).data;
  const rgb = new Uint8Array(CAPTURE_SIDE * CAPTURE_SIDE * 3);
  for (let i = 0; i < CAPTURE_SIDE * CAPTURE_SIDE; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  return { width: CAPTURE_SIDE, height: CAPTURE_SIDE, rgb };
}
