// Written for the Leeds WIN tests: a made-up "Pedestrian" door counter in the ChirpStack v3 form.
// Frame (fPort 1): uint32 in, uint32 out (cumulative), little-endian; variables.site_scale scales.
function Decode(fPort, bytes, variables) {
  function u32(o) { return (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0; }
  var scale = Number(variables.scale || "1");
  return { counts: { in: u32(0) * scale, out: u32(4) * scale } };
}
