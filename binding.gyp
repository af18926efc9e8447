{
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
    "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    "cflags_cc!": ["-fno-exceptions"]
  },
  "targets": [
    {
      "target_name": "vfsd_native",
      "sources": [
        "native/addon.cc",
        "native/sys_files.cc",
        "native/sys_xattr.cc",
        "native/sys_creds.cc",
        "native/sys_process.cc",
        "native/sys_sandbox.cc",
        "native/fuse_dev.cc",
        "native/fuse_mount.cc",
        "native/fuse_pending.cc",
        "native/fuse_data_jobs.cc",
        "native/fuse_session.cc",
        "native/fuse_session_ending.cc",
        "native/fuse_session_answers.cc",
        "native/fuse_session_uring.cc",
        "native/fuse_session_notify.cc",
        "native/fuse_uring.cc",
        "native/fuse_uring_requests.cc",
        "native/vhost_user.cc",
        "native/vhost_device_control.cc",
        "native/vhost_device_data.cc",
        "native/vhost_virtqueue.cc",
        "native/vhost_memory.cc",
        "native/vhost_socket.cc",
        "native/vhost_io.cc",
        "native/dir_encode.cc",
        "native/sys_seccomp.cc",
        "native/sys_syslog.cc",
        "native/worker_pool.cc",
        "native/meta_jobs.cc",
        "native/meta_job.cc",
        "native/data_jobs.cc",
        "native/fd_leases.cc",
        "native/vhost_jobs.cc"
      ],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "vfsd_test_support",
      "sources": ["native/vhost_test_support.cc"]
    }
  ]
}
