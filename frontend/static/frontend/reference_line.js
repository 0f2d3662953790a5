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

/* The other way round: from a box on the sagittal to the axial slice through it, so that the axial follows the
 * level the reader is on. Pixel (x, y) here is cornerstone's, as in referenceLine: (0, 0) at the plane's
 * imagePositionPatient, x along a row (rowCosines, columnPixelSpacing apart), y down a column. */

/** The patient point [x, y, z] (mm) of pixel (x, y) of a plane. */
export function pixelToPatient(plane, x, y) {
  const along = (axis, mm) => axis.map((c) => c * mm);
  const across = along(plane.rowCosines, x * plane.columnPixelSpacing);
  const down = along(plane.columnCosines, y * plane.rowPixelSpacing);
  return plane.imagePositionPatient.map((p, i) => p + across[i] + down[i]);
}

/** The distance (mm, never negative) of a patient point from a plane, along the plane's normal. */
export function distanceToPlane(plane, point) {
  const normal = cross(plane.rowCosines, plane.columnCosines);
  return Math.abs(dot(normal, minus(point, plane.imagePositionPatient))) / Math.hypot(...normal);
}

/** The centre of a box [x0, y0, x1, y1] of a plane, as a patient point. */
export function boxCentre(plane, box) {
  return pixelToPatient(plane, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2);
}

/** The mean of patient points, or null when there are none. */
export function meanPoint(points) {
  if (!points.length) return null;
  return [0, 1, 2].map((i) => points.reduce((sum, point) => sum + point[i], 0) / points.length);
}

/** The index of the plane (of a series' slices; null entries are slices without geometry) nearest a patient
 * point, or -1 when there is no point or no plane. */
export function nearestSlice(planes, point) {
  let best = -1, bestDistance = Infinity;
  if (!point) return best;
  planes.forEach((plane, index) => {
    const distance = plane ? distanceToPlane(plane, point) : Infinity;
    if (distance < bestDistance) { best = index; bestDistance = distance; }
  });
  return best;
}
