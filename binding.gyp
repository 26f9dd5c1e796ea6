{
  "targets": [
    {
      "target_name": "portclash",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/linux_proc.cc", "native/linux_diag.cc", "native/linux_owners.cc", "native/linux_namespaces.cc", "native/linux_cgroups.cc", "native/linux_netlink.cc", "native/linux_nftables.cc"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-pthread"],
          "ldflags": ["-pthread", "-Wl,-z,nodelete"]
        }],
        ["OS=='win'", {
          "sources": ["native/win32.cc"],
          "libraries": ["iphlpapi.lib", "ws2_32.lib", "advapi32.lib"],
          "msvs_settings": {
            "VCCLCompilerTool": {
              "ExceptionHandling": 1,
              "AdditionalOptions": ["/std:c++17"]
            }
          }
        }]
      ]
    }
  ]
}
