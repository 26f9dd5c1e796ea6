// Bench only: the same /proc parser, but one JS object per row, to measure what packing saves.
#include <napi.h>

#include <vector>

#include "../../native/linux.h"

namespace {

Napi::Value ReadObjects(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  uint8_t protocol = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
  uint8_t family = static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value());

  std::vector<portclash::RawRow> rows;
  if (portclash::ReadProcNet({{path, protocol, family}}, rows)[0].error != 0) {
    throw Napi::Error::New(env, "read failed");
  }

  // Property names made once per call, as a careful object-per-row addon would.
  const char* const kNames[] = {"protocol", "family", "localAddress", "localPort", "remoteAddress", "remotePort",
                                "state", "uid", "inode", "txQueue", "rxQueue"};
  std::vector<Napi::String> names;
  for (const char* name : kNames) names.push_back(Napi::String::New(env, name));

  const size_t address_length = family == 6 ? 16 : 4;
  Napi::Array result = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const portclash::RawRow& row = rows[i];
    Napi::Object object = Napi::Object::New(env);
    object.Set(names[0], Napi::Number::New(env, row.protocol));
    object.Set(names[1], Napi::Number::New(env, row.family));
    object.Set(names[2], Napi::Buffer<uint8_t>::Copy(env, row.local_address, address_length));
    object.Set(names[3], Napi::Number::New(env, row.local_port));
    object.Set(names[4], Napi::Buffer<uint8_t>::Copy(env, row.remote_address, address_length));
    object.Set(names[5], Napi::Number::New(env, row.remote_port));
    object.Set(names[6], Napi::Number::New(env, row.state));
    object.Set(names[7], Napi::Number::New(env, row.uid));
    object.Set(names[8], Napi::Number::New(env, row.inode_high * 4294967296.0 + row.inode_low));
    object.Set(names[9], Napi::Number::New(env, row.tx_queue));
    object.Set(names[10], Napi::Number::New(env, row.rx_queue));
    result.Set(static_cast<uint32_t>(i), object);
  }
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("readObjects", Napi::Function::New(env, ReadObjects));
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
