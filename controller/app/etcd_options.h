// File: controller/app/etcd_options.h
//
// The `--etcd-*` flags as the etcd client's connection options.
#pragma once

#include "controller/config/options.h"
#include "controller/etcd/client.h"

namespace registrar::app {

inline etcd::ClientOptions ToClientOptions(const config::EtcdOptions& o) {
  etcd::ClientOptions c;
  c.endpoints = o.endpoints;
  c.username = o.username;
  c.password = o.password;
  c.password_file = o.password_file;
  c.ca_file = o.ca_file;
  c.cert_file = o.cert_file;
  c.key_file = o.key_file;
  c.insecure_skip_verify = o.insecure_skip_verify;
  return c;
}

}  // namespace registrar::app
