// Function-node body: a ChirpStack v4 uplink event of a Dragino LHT65N (fPort 2,
// 11-byte frame, manual §2.4) to the points leedswin's bridge writes for it:
// `climate` (readings) and `uplink` (link fields, battery), tags dev_eui, model,
// need, privacy, site, at the event time in ns. Output 1: public, output 2: home.
const up = msg.payload;
if (!up || typeof up !== "object" || up.fPort !== 2 || !up.deviceInfo) {
    return null;
}
const info = up.deviceInfo;
const given = info.tags || {};
const frame = Buffer.from(up.data || "", "base64");
if (frame.length < 11) {
    return null;
}
const battery = frame.readUInt16BE(0);
const temperature = frame.readInt16BE(2);
const ext = frame[6] & 0x1f;
const external = frame.readInt16BE(7);
if (ext === 9) {
    return null; // stamped by the sensor's clock: history, not handled by this peer
}
const climate = { battery_status: battery >> 14, relative_humidity: frame.readUInt16BE(4) / 10 };
if (temperature !== 0x7fff) {
    climate.temperature = temperature / 100;
}
if (ext === 1 && external !== 0x7fff) {
    climate.external_temperature = external / 100;
}
const when = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(up.time);
if (!when) {
    return null;
}
const ns = (
    BigInt(Date.parse(when[1] + when[3])) * 1000000n +
    BigInt((when[2] || "").padEnd(9, "0").slice(0, 9))
).toString();
let rssi = null;
let snr = null;
for (const gateway of up.rxInfo || []) {
    if (rssi === null || gateway.rssi > rssi) {
        rssi = gateway.rssi;
        snr = gateway.snr;
    }
}
const link = {
    battery_voltage: (battery & 0x3fff) / 1000,
    f_cnt: up.fCnt,
    f_port: up.fPort,
    gateways: (up.rxInfo || []).length,
};
if (rssi !== null) {
    link.rssi = rssi;
    link.snr = snr;
}
const privacy = given.privacy === "public" ? "public" : "home";
const tags = {
    dev_eui: info.devEui.toLowerCase(),
    model: given.model || info.deviceProfileName,
    need: "damp",
    privacy: privacy,
    site: given.site,
};
msg.payload = [
    { measurement: "climate", tags: tags, fields: climate, timestamp: ns },
    { measurement: "uplink", tags: tags, fields: link, timestamp: ns },
];
return privacy === "public" ? [msg, null] : [null, msg];
