// Registration hooks of the addon's modules (one per .cc file).
#pragma once
#include <napi.h>

namespace vfsd {
void InitSysFiles(Napi::Env env, Napi::Object exports);
void InitSysXattr(Napi::Env env, Napi::Object exports);
void InitSysCreds(Napi::Env env, Napi::Object exports);
void InitSysProcess(Napi::Env env, Napi::Object exports);
void InitSysSandbox(Napi::Env env, Napi::Object exports);
void InitFuseDev(Napi::Env env, Napi::Object exports);
void InitVhostUser(Napi::Env env, Napi::Object exports);
void InitDirEncode(Napi::Env env, Napi::Object exports);
void InitSysSeccomp(Napi::Env env, Napi::Object exports);
void InitSysSyslog(Napi::Env env, Napi::Object exports);
}  // namespace vfsd
