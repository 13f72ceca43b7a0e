// The drawing pad: a 28 x 28 canvas shown scaled up, drawn on with the mouse, a pen or a
// finger (pointer events), white strokes on black like the book's datasets. The server
// resizes whatever it gets to the run's H x W and channels.

const BRUSH = 2.4; // stroke width in canvas pixels (28 x 28 grid)

export class DrawingPad {
  /** canvas: the <canvas> (its width/height attributes set the grid); onStroke: called
   *  after each finished stroke. */
  constructor(canvas, onStroke) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true });
    this.onStroke = onStroke;
    this.last = null;
    this.dirty = false;
    this.clear();
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel"]) {
      canvas.addEventListener(type, (e) => this.up(e));
    }
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.dirty = false;
  }

  /** The event's position in canvas pixels. */
  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (this.canvas.width / box.width),
      (event.clientY - box.top) * (this.canvas.height / box.height)];
  }

  down(event) {
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.last = this.point(event);
    this.segment(this.last, this.last);
  }

  move(event) {
    if (!this.last) return;
    const next = this.point(event);
    this.segment(this.last, next);
    this.last = next;
  }

  up() {
    if (!this.last) return;
    this.last = null;
    this.onStroke();
  }

  segment([x0, y0], [x1, y1]) {
    const ctx = this.ctx;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = BRUSH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1 + 0.01, y1); // a zero-length line draws nothing: nudge it
    ctx.stroke();
    this.dirty = true;
  }

  /** Draw an image (an uploaded file) into the pad, fitted and centred on black. */
  showImage(image) {
    this.clear();
    const { width, height } = this.canvas;
    const scale = Math.min(width / image.naturalWidth, height / image.naturalHeight);
    const w = image.naturalWidth * scale;
    const h = image.naturalHeight * scale;
    this.ctx.imageSmoothingQuality = "high";
    this.ctx.drawImage(image, (width - w) / 2, (height - h) / 2, w, h);
    this.dirty = true;
  }

  /** The drawing as {blob, dataUrl, name} (PNG). */
  async snapshot() {
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
    return { blob, dataUrl: this.canvas.toDataURL("image/png"), name: "drawing.png" };
  }
}
