# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection, TLS and authentication options for modules that read from Grafana Tempo."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of Tempo's query API, the query-frontend (microservices) or the Tempo process (monolithic),
        for example V(http://tempo.observability.svc:3200).
      - Without a path; the module appends C(/api/...).
    type: str
    required: true
    aliases: [tempo_url]
  tenant:
    description:
      - Tenant for a multi-tenant Tempo, sent as the C(X-Scope-OrgID) header.
      - Leave unset when Tempo runs with C(multitenancy_enabled=false).
    type: str
  bearer_token:
    description:
      - Bearer token sent in the C(Authorization) header to the Tempo query API, for example when Tempo sits
        behind an authenticating gateway.
      - Mutually exclusive with O(username).
    type: str
  username:
    description:
      - User name for HTTP basic authentication to the Tempo query API.
    type: str
  password:
    description:
      - Password for HTTP basic authentication, used with O(username).
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate. Only set to V(false) on a trusted network for testing.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate (for a private CA).
    type: path
  client_cert:
    description:
      - PEM client certificate for mutual TLS. It may contain the private key too, else set O(client_key).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  use_proxy:
    description:
      - Use the proxy set in the environment (C(https_proxy), C(no_proxy)).
    type: bool
    default: true
  request_timeout:
    description:
      - Seconds one HTTP request may take.
    type: float
    default: 10.0
"""
