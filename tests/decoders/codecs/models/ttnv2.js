// Written for the Leeds WIN tests: a one-value thermometer in the TTN v2 `Decoder` form.
function Decoder(bytes, port) {
  return { temp: ((bytes[0] << 8) | bytes[1]) / 100 - 40 };
}
