package cfg

// ParamKind is the value syntax a global (core) parameter accepts, as in
// Kamailio 5.6's grammar.
type ParamKind uint8

// Value kinds of core parameters.
const (
	PNum       ParamKind = iota + 1 // non-negative number; yes/no/on/off/true/false allowed
	PInt                            // number, may be negative
	PStr                            // "string"
	PStrOrID                        // "string" or bare identifier
	PID                             // bare identifier (log_facility=LOG_LOCAL0)
	PNumOrID                        // number or identifier (tos)
	PListen                         // listen=[proto:]host[:port] ... [advertise h[:p]] [name "n"] [virtual]
	PSockets                        // alias=[proto:]host[:port] ...
	PHost                           // advertised_address=host
	PProto                          // udp|tcp|tls|sctp|*
	PIPv4                           // a.b.c.d
	PIPv6                           // IPv6 address
	PTLSMethod                      // sslv23|sslv2|sslv3|tlsv1
)

func (k ParamKind) String() string {
	switch k {
	case PNum:
		return "number"
	case PInt:
		return "integer"
	case PStr:
		return "string"
	case PStrOrID:
		return "string or identifier"
	case PID:
		return "identifier"
	case PNumOrID:
		return "number or identifier"
	case PListen:
		return "socket ([proto:]host[:port] [advertise host[:port]] [name \"n\"] [virtual])"
	case PSockets:
		return "socket list ([proto:]host[:port] ...)"
	case PHost:
		return "host name or IP address"
	case PProto:
		return "protocol (udp, tcp, tls, sctp)"
	case PIPv4:
		return "IPv4 address"
	case PIPv6:
		return "IPv6 address"
	case PTLSMethod:
		return "TLS method (sslv23, sslv2, sslv3, tlsv1)"
	}
	return "value"
}

// ParamUse says what sipht does with a core parameter.
type ParamUse uint8

// Uses of core parameters.
const (
	// Ignored parameters are accepted (Kamailio has them) but have no
	// meaning in a Go process (memory pools, process counts, DNS cache,
	// real-time priorities ...); the loader logs them at debug level.
	Ignored ParamUse = iota
	// Used parameters change sipht's behaviour.
	Used
)

// CoreParamDef describes one Kamailio 5.6 core parameter.
type CoreParamDef struct {
	Names []string // canonical name first, then aliases
	Kind  ParamKind
	Use   ParamUse
}

// Name returns the canonical name.
func (d *CoreParamDef) Name() string { return d.Names[0] }

// LookupCoreParam finds a core parameter by any of its names.
func LookupCoreParam(name string) *CoreParamDef {
	return coreParamIndex[name]
}

// CoreParams returns the table of Kamailio 5.6 core parameters (derived
// from the names and value types in Kamailio's cfg.lex/cfg.y).
func CoreParams() []CoreParamDef { return coreParams }

var coreParamIndex = map[string]*CoreParamDef{}

func init() {
	for i := range coreParams {
		for _, n := range coreParams[i].Names {
			coreParamIndex[n] = &coreParams[i]
		}
	}
}

func p(kind ParamKind, use ParamUse, names ...string) CoreParamDef {
	return CoreParamDef{Names: names, Kind: kind, Use: use}
}

var coreParams = []CoreParamDef{
	// sockets and identity
	p(PListen, Used, "listen"),
	p(PNum, Used, "port"),
	p(PSockets, Used, "alias"),
	p(PNum, Used, "auto_aliases"),
	p(PHost, Used, "advertised_address"),
	p(PNum, Used, "advertised_port"),
	p(PNum, Ignored, "mhomed"),
	p(PNum, Ignored, "auto_bind_ipv6"),
	p(PNum, Ignored, "bind_ipv6_link_local"),
	p(PStr, Ignored, "ipv6_hex_style"),
	p(PInt, Ignored, "ip_free_bind", "ipfreebind", "ip_nonlocal_bind"),
	p(PNum, Used, "disable_tcp"),
	p(PNum, Used, "enable_tls", "tls_enable"),
	p(PNum, Used, "disable_tls", "tls_disable"),
	p(PNum, Ignored, "enable_sctp"),
	p(PNum, Ignored, "disable_sctp"),
	p(PNum, Ignored, "tls_port_no"),
	p(PTLSMethod, Ignored, "tls_method"),
	p(PNum, Ignored, "tls_verify"),
	p(PNum, Ignored, "tls_require_certificate"),
	p(PStr, Ignored, "tls_certificate"),
	p(PStr, Ignored, "tls_private_key"),
	p(PStr, Ignored, "tls_ca_list"),
	p(PNum, Ignored, "tls_handshake_timeout"),
	p(PNum, Ignored, "tls_send_timeout"),
	p(PNum, Ignored, "tls_max_connections"),
	p(PNum, Ignored, "tlslog", "tls_log"),
	// logging
	p(PInt, Used, "debug"),
	p(PNum, Used, "log_stderror"),
	p(PID, Used, "log_facility"),
	p(PStr, Used, "log_name"),
	p(PNum, Used, "log_color"),
	p(PStr, Used, "log_prefix"),
	p(PNum, Ignored, "log_prefix_mode"),
	p(PStr, Used, "log_engine_type"),
	p(PStr, Ignored, "log_engine_data"),
	p(PInt, Ignored, "corelog", "core_log"),
	p(PInt, Ignored, "memlog", "mem_log"),
	p(PInt, Ignored, "memdbg", "mem_dbg"),
	p(PInt, Ignored, "mem_summary"),
	p(PInt, Ignored, "mem_safety"),
	p(PInt, Ignored, "mem_join"),
	p(PInt, Ignored, "mem_status_mode"),
	p(PInt, Ignored, "sip_parser_log"),
	p(PInt, Ignored, "sip_parser_log_oneline"),
	p(PInt, Ignored, "sip_parser_mode"),
	p(PInt, Ignored, "latency_cfg_log"),
	p(PInt, Ignored, "latency_log"),
	p(PNum, Ignored, "latency_limit_action"),
	p(PNum, Ignored, "latency_limit_cfg"),
	p(PNum, Ignored, "latency_limit_db"),
	p(PNum, Ignored, "verbose_startup"),
	// processes and memory
	p(PNum, Used, "fork"),
	p(PNum, Used, "children"),
	p(PNum, Ignored, "fork_delay"),
	p(PNum, Ignored, "modinit_delay"),
	p(PNum, Ignored, "tcp_children"),
	p(PNum, Ignored, "sctp_children"),
	p(PNum, Ignored, "socket_workers"),
	p(PNum, Ignored, "async_workers"),
	p(PNum, Ignored, "async_usleep"),
	p(PNum, Ignored, "async_nonblock"),
	p(PStr, Ignored, "async_workers_group"),
	p(PNum, Ignored, "shm", "shm_mem", "shm_mem_size"),
	p(PNum, Ignored, "shm_force_alloc"),
	p(PNum, Ignored, "mlock_pages"),
	p(PNum, Ignored, "real_time"),
	p(PNum, Ignored, "rt_prio"),
	p(PNum, Ignored, "rt_policy"),
	p(PNum, Ignored, "rt_timer1_prio", "rt_fast_timer_prio", "rt_ftimer_prio"),
	p(PNum, Ignored, "rt_timer1_policy", "rt_ftimer_policy"),
	p(PNum, Ignored, "rt_timer2_prio", "rt_stimer_prio"),
	p(PNum, Ignored, "rt_timer2_policy", "rt_stimer_policy"),
	p(PNum, Ignored, "open_files_limit"),
	p(PNum, Ignored, "disable_core_dump"),
	p(PNum, Ignored, "exit_timeout", "ser_kill_timeout"),
	p(PNum, Ignored, "wait_worker1_mode"),
	p(PNum, Ignored, "wait_worker1_time"),
	p(PNum, Ignored, "wait_worker1_usleep"),
	p(PNum, Ignored, "route_locks_size"),
	p(PNum, Ignored, "pv_buffer_size"),
	p(PNum, Ignored, "pv_buffer_slots"),
	p(PNum, Ignored, "pv_cache_limit"),
	p(PNum, Ignored, "pv_cache_action"),
	p(PNum, Ignored, "maxbuffer"),
	p(PNum, Ignored, "sql_buffer_size"),
	// files and identity of the process
	p(PStrOrID, Used, "rundir", "run_dir"),
	p(PStrOrID, Used, "workdir", "wdir"),
	p(PStrOrID, Ignored, "user", "uid"),
	p(PStrOrID, Ignored, "group", "gid"),
	p(PStrOrID, Ignored, "chroot"),
	// script engine
	p(PNum, Used, "max_while_loops"),
	p(PNum, Used, "max_recursive_level"),
	p(PNum, Ignored, "max_branches"),
	p(PInt, Ignored, "received_route_mode"),
	p(PNum, Ignored, "onsend_route_reply"),
	p(PNum, Ignored, "msg_time"),
	p(PNum, Ignored, "server_id"),
	p(PStr, Ignored, "version_table"),
	p(PStr, Ignored, "stats_name_separator"),
	p(PStr, Ignored, "xavp_via_params"),
	p(PStr, Ignored, "xavp_via_fields"),
	p(PStr, Ignored, "uri_host_extra_chars"),
	p(PStr, Ignored, "hdr_name_extra_chars"),
	// SIP behaviour
	p(PNum, Used, "server_signature"),
	p(PStr, Used, "server_header"),
	p(PStr, Used, "user_agent_header"),
	p(PNum, Ignored, "sip_warning"),
	p(PNum, Ignored, "check_via"),
	p(PNum, Ignored, "phone2tel"),
	p(PNum, Ignored, "reply_to_via"),
	p(PNum, Ignored, "force_rport", "add_rport"),
	p(PNum, Ignored, "local_rport"),
	p(PNum, Ignored, "http_reply_hack", "http_reply_parse"),
	// DNS
	p(PNum, Ignored, "dns"),
	p(PNum, Ignored, "rev_dns"),
	p(PNum, Ignored, "dns_try_ipv6"),
	p(PNum, Ignored, "dns_try_naptr"),
	p(PNum, Ignored, "dns_srv_lb", "dns_srv_loadbalancing"),
	p(PInt, Ignored, "dns_udp_pref", "dns_udp_preference"),
	p(PInt, Ignored, "dns_tcp_pref", "dns_tcp_preference"),
	p(PInt, Ignored, "dns_tls_pref", "dns_tls_preference"),
	p(PInt, Ignored, "dns_sctp_pref", "dns_sctp_preference"),
	p(PNum, Ignored, "dns_retr_time"),
	p(PNum, Ignored, "dns_slow_query_ms"),
	p(PNum, Ignored, "dns_retr_no"),
	p(PNum, Ignored, "dns_servers_no"),
	p(PNum, Ignored, "dns_use_search_list"),
	p(PNum, Ignored, "dns_search_full_match"),
	p(PNum, Ignored, "dns_naptr_ignore_rfc"),
	p(PNum, Ignored, "dns_cache_init"),
	p(PNum, Ignored, "use_dns_cache"),
	p(PNum, Ignored, "use_dns_failover"),
	p(PNum, Ignored, "dns_cache_flags"),
	p(PNum, Ignored, "dns_cache_negative_ttl"),
	p(PNum, Ignored, "dns_cache_min_ttl"),
	p(PNum, Ignored, "dns_cache_max_ttl"),
	p(PNum, Ignored, "dns_cache_mem"),
	p(PNum, Ignored, "dns_cache_gc_interval"),
	p(PNum, Ignored, "dns_cache_del_nonexp", "dns_cache_delete_nonexpired"),
	p(PNum, Ignored, "dns_cache_rec_pref"),
	// destination blocklist
	p(PNum, Ignored, "dst_blocklist_init"),
	p(PNum, Ignored, "use_dst_blocklist"),
	p(PNum, Ignored, "dst_blocklist_mem"),
	p(PNum, Ignored, "dst_blocklist_expire", "dst_blocklist_ttl"),
	p(PNum, Ignored, "dst_blocklist_gc_interval"),
	p(PNum, Ignored, "dst_blocklist_udp_imask"),
	p(PNum, Ignored, "dst_blocklist_tcp_imask"),
	p(PNum, Ignored, "dst_blocklist_tls_imask"),
	p(PNum, Ignored, "dst_blocklist_sctp_imask"),
	// TCP
	p(PNum, Ignored, "tcp_accept_aliases"),
	p(PNum, Ignored, "tcp_accept_unique"),
	p(PNum, Ignored, "tcp_connection_match"),
	p(PInt, Used, "tcp_send_timeout"),
	p(PInt, Used, "tcp_connect_timeout"),
	p(PInt, Used, "tcp_connection_lifetime"),
	p(PStrOrID, Ignored, "tcp_poll_method"),
	p(PNum, Used, "tcp_max_connections"),
	p(PNum, Ignored, "tcp_no_connect"),
	p(PIPv4, Ignored, "tcp_source_ipv4"),
	p(PIPv6, Ignored, "tcp_source_ipv6"),
	p(PNum, Ignored, "tcp_fd_cache"),
	p(PNum, Ignored, "tcp_buf_write", "tcp_async"),
	p(PNum, Ignored, "tcp_conn_wq_max"),
	p(PNum, Ignored, "tcp_wq_max"),
	p(PNum, Ignored, "tcp_rd_buf_size"),
	p(PNum, Ignored, "tcp_wq_blk_size"),
	p(PNum, Ignored, "tcp_defer_accept"),
	p(PNum, Ignored, "tcp_delayed_ack"),
	p(PNum, Ignored, "tcp_syncnt"),
	p(PNum, Ignored, "tcp_linger2"),
	p(PNum, Ignored, "tcp_keepalive"),
	p(PNum, Ignored, "tcp_keepidle"),
	p(PNum, Ignored, "tcp_keepintvl"),
	p(PNum, Ignored, "tcp_keepcnt"),
	p(PNum, Ignored, "tcp_crlf_ping"),
	p(PNum, Ignored, "tcp_accept_no_cl"),
	p(PNum, Ignored, "tcp_accept_hep3"),
	p(PNum, Ignored, "tcp_accept_haproxy"),
	p(PNum, Ignored, "tcp_clone_rcvbuf"),
	p(PNum, Ignored, "tcp_reuse_port"),
	p(PInt, Ignored, "tcp_wait_data"),
	p(PInt, Ignored, "tcp_script_mode"),
	// UDP, multicast, IP options
	p(PNum, Ignored, "udp_mtu"),
	p(PProto, Ignored, "udp_mtu_try_proto"),
	p(PInt, Ignored, "udp4_raw"),
	p(PNum, Ignored, "udp4_raw_mtu"),
	p(PNum, Ignored, "udp4_raw_ttl"),
	p(PStrOrID, Ignored, "mcast"),
	p(PNum, Ignored, "mcast_loopback"),
	p(PNum, Ignored, "mcast_ttl"),
	p(PNumOrID, Ignored, "tos"),
	p(PNum, Ignored, "pmtu_discovery"),
}
