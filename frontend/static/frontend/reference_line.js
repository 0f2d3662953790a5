/* Where one image plane (an axial slice) cuts another (the sagittal image), in the second image's pixels: the
 * reference line. Pure geometry on cornerstone's imagePlaneModule (DICOM ImagePositionPatient,
 * ImageOrientationPatient and PixelSpacing), so it is tested under node without a browser.
 *
 * A plane: {imagePositionPatient: [x, y, z] (mm, centre of the first pixel), rowCosines (direction of
 * increasing column index), columnCosines (direction of increasing row index), rowPixelSpacing (mm between
 * rows), columnPixelSpacing (mm between columns), rows, columns}. */

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const minus = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** The segment {start: {x, y}, end: {x, y}} where `source` cuts `target`, in target pixel coordinates (x along
 * a row, y down the columns, both from 0 to the image's size), or null when the planes are (nearly) parallel or
 * the cut misses the image. */
export function referenceLine(target, source) {
  const normal = cross(source.rowCosines, source.columnCosines);
  // The signed distance from the source plane of target pixel (x, y) is linear: d = d0 + dx * x + dy * y.
  const d0 = dot(normal, minus(target.imagePositionPatient, source.imagePositionPatient));
  const dx = dot(normal, target.rowCosines) * target.columnPixelSpacing;
  const dy = dot(normal, target.columnCosines) * target.rowPixelSpacing;
  if (Math.hypot(dx, dy) < 1e-9) return null;
  const width = target.columns, height = target.rows;
  const points = [];
  const add = (x, y) => {
    const inside = x >= -1e-6 && x <= width + 1e-6 && y >= -1e-6 && y <= height + 1e-6;
    if (inside && !points.some((p) => Math.hypot(p.x - x, p.y - y) < 1e-6)) points.push({x, y});
  };
  if (Math.abs(dy) > 1e-12) {
    add(0, -d0 / dy);
    add(width, -(d0 + dx * width) / dy);
  }
  if (Math.abs(dx) > 1e-12) {
    add(-d0 / dx, 0);
    add(-(d0 + dy * height) / dx, height);
  }
  if (points.length < 2) return null;
  return {start: points[0], end: points[1]};
}
