// Node-RED settings for the benchmark peer (bench/nodered): headless, no editor,
// no admin API, no HTTP nodes; the flow and its credentials are written by
// bench.nodered into a temporary userDir for each run.
module.exports = {
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.LEEDSWIN_NODERED_PORT || 0),
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    logging: { console: { level: "info", metrics: false, audit: false } },
    exportGlobalContextKeys: false,
    editorTheme: { projects: { enabled: false } },
};
