# 85-tls.t: TLS termination and TLS to upstreams: certificates made here with the
# openssl command; SNI picks the certificate (several names, the default
# otherwise, reject_handshake), RSA-only and ECDSA-capable clients get the
# matching one, TLS 1.0/1.1 refused by default, 1.2 and 1.3 accepted;
# Host still picks the server; sessions resume across 4 workers through
# tickets and through the shared cache, each on its own; client
# certificates required, optional, refused; a stalled handshake is closed
# at ssl_handshake_timeout; proxy_pass https with verification passing
# and failing, keep-alive over TLS; variables; a bad certificate fails -t
# and a reload with one keeps the old configuration serving.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use Portico::Test;

my $t = Portico::Test->new;
my $d = $t->testdir;

sub sh {
	my ($cmd) = @_;
	my $out = `cd $d && timeout 15 sh -c '$cmd' 2>&1`;
	return ($? >> 8, $out // '');
}

for my $p ('openssl', 'curl') {
	my ($rc) = sh("command -v $p >/dev/null");
	$t->skip_all("$p not found") if $rc != 0;
}

# --- certificates: a CA, servers (RSA and ECDSA), a client ------------
my @cmds = (
    'openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca',
    'openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca',
);
my %cn = (def => 'default.test', a => 'a.test', b => 'b.test', w => 'x.wild.test');
for my $n (sort keys %cn) {
	push @cmds, "openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$cn{$n}",
	    "printf \"subjectAltName=DNS:$cn{$n}\" > $n.ext",
	    "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.crt";
}
push @cmds, 'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a-ec.key -out a-ec.csr -subj /CN=a.test',
    'openssl x509 -req -in a-ec.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile a.ext -out a-ec.crt',
    'openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client1/O=portico',
    'openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt',
    'openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr -subj /CN=rogue',
    'openssl x509 -req -in rogue.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -days 2 -out rogue.crt',
    'openssl rand 80 > ticket.key',
    'printf bad > bad.crt';
for my $c (@cmds) {
	my ($rc, $out) = sh($c);
	BAIL_OUT("$c: $out") if $rc != 0;
}

my $conf = <<'EOF';
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    ssl_protocols TLSv1.2 TLSv1.3;

    upstream tlsback {
        server 127.0.0.1:%%PORT_S%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_S%% ssl default_server;
        server_name default.test;
        ssl_certificate def.crt;
        ssl_certificate_key def.key;
        ssl_handshake_timeout 1s;
        location / { return 200 "default $ssl_server_name $ssl_protocol reused=$ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_S%% ssl;
        listen 127.0.0.1:%%PORT_H%%;
        server_name a.test;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_certificate a-ec.crt;
        ssl_certificate_key a-ec.key;
        location / { return 200 "a $scheme $ssl_server_name c=$connection_requests reused=$ssl_session_reused\n"; }
        location /up/ {
            proxy_pass https://127.0.0.1:%%PORT_S%%/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate ca.crt;
            proxy_ssl_name b.test;
            proxy_ssl_server_name on;
        }
        location /upka/ {
            proxy_pass https://tlsback/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host a.test;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate ca.crt;
            proxy_ssl_name a.test;
            proxy_ssl_server_name on;
        }
        location /badname/ {
            proxy_pass https://127.0.0.1:%%PORT_S%%/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate ca.crt;
            proxy_ssl_name wrong.test;
            proxy_ssl_server_name on;
        }
        location /badca/ {
            proxy_pass https://127.0.0.1:%%PORT_S%%/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate other-ca.crt;
            proxy_ssl_name b.test;
            proxy_ssl_server_name on;
        }
        location /noverify/ {
            proxy_pass https://127.0.0.1:%%PORT_S%%/;
        }
        location /reuse/ {
            proxy_pass https://127.0.0.1:%%PORT_S%%/;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_S%% ssl;
        server_name b.test;
        ssl_certificate b.crt;
        ssl_certificate_key b.key;
        location / { return 200 "b $ssl_server_name host=$host\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_S%% ssl;
        server_name *.wild.test;
        ssl_certificate w.crt;
        ssl_certificate_key w.key;
        location / { return 200 "wild\n"; }
    }

    # sessions: tickets only (automatic keys), cache only, neither
    server {
        listen 127.0.0.1:%%PORT_T%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_session_cache off;
        location / { return 200 "t reused=$ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_C%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_session_tickets off;
        ssl_session_cache shared:tls:1m;
        location / { return 200 "c reused=$ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_N%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_session_tickets off;
        location / { return 200 "n reused=$ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_K%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_session_cache off;
        ssl_session_ticket_key ticket.key;
        location / { return 200 "k reused=$ssl_session_reused\n"; }
    }

    # client certificates
    server {
        listen 127.0.0.1:%%PORT_M%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_verify_client on;
        ssl_client_certificate ca.crt;
        location / { return 200 "m $ssl_client_verify $ssl_client_s_dn fp=$ssl_client_fingerprint\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_O%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_verify_client optional;
        ssl_client_certificate ca.crt;
        location / { return 200 "o $ssl_client_verify\n"; }
    }

    # unknown names refused
    server {
        listen 127.0.0.1:%%PORT_R%% ssl default_server;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:%%PORT_R%% ssl;
        server_name a.test;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        location / { return 200 "r-a\n"; }
    }
}
EOF
$t->write_conf($conf);
$t->run;

my ($S, $H, $T, $C, $N, $K, $M, $O, $R) = map { $t->port($_) }
    qw(S H T C N K M O R);

# subject CN and key type of the certificate the server sends
sub peer_cert {
	my ($port, $opts) = @_;
	my ($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$port $opts </dev/null 2>/dev/null"
	    . " | openssl x509 -noout -subject -text");
	my ($subj) = $out =~ /subject=.*?CN\s*=\s*([^\s,\/]+)/;
	my $type = $out =~ /Public Key Algorithm: id-ecPublicKey/ ? 'ec' :
	    $out =~ /Public Key Algorithm: rsaEncryption/ ? 'rsa' : '?';
	return ($subj // '', $type);
}

is((peer_cert($S, '-servername a.test'))[0], 'a.test', 'SNI a.test: its certificate');
is((peer_cert($S, '-servername b.test'))[0], 'b.test', 'SNI b.test: its certificate');
is((peer_cert($S, '-servername B.Test'))[0], 'b.test', 'SNI is case-insensitive');
is((peer_cert($S, '-servername x.wild.test'))[0], 'x.wild.test', 'SNI wildcard server');
is((peer_cert($S, '-servername nope.test'))[0], 'default.test', 'unknown name: default certificate');
is((peer_cert($S, '-noservername'))[0], 'default.test', 'no SNI: default certificate');

is((peer_cert($S, '-servername a.test -sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256'))[1], 'rsa',
    'RSA-only client gets the RSA certificate');
is((peer_cert($S, '-servername a.test -sigalgs ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256'))[1], 'ec',
    'ECDSA-capable client gets the ECDSA certificate');
is((peer_cert($S, '-servername a.test -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256'))[1], 'rsa',
    'TLS 1.2 RSA cipher: RSA certificate');

# protocols
for my $v (['-tls1', 'TLSv1'], ['-tls1_1', 'TLSv1.1']) {
	my ($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$S $v->[0] -cipher DEFAULT\@SECLEVEL=0"
	    . " -servername a.test </dev/null");
	ok($out =~ /alert protocol version/ && $out =~ /Cipher is \(NONE\)/,
	    "$v->[1] refused by default") or diag($out);
}
for my $v (['--tlsv1.2 --tls-max 1.2', 'TLSv1.2'], ['--tlsv1.3', 'TLSv1.3']) {
	my ($rc, $out) = sh("curl -s --cacert ca.crt $v->[0] --resolve default.test:$S:127.0.0.1"
	    . " https://default.test:$S/");
	is($out, "default default.test $v->[1] reused=.\n", "$v->[1] accepted, \$ssl_protocol");
}

# Host picks the server, SNI the certificate
{
	my ($rc, $out) = sh("curl -s --cacert ca.crt --resolve a.test:$S:127.0.0.1"
	    . " -H \"Host: b.test\" https://a.test:$S/x");
	is($out, "b a.test host=b.test\n", 'Host selects the server, $ssl_server_name keeps SNI');
	($rc, $out) = sh("curl -s --cacert ca.crt --resolve a.test:$S:127.0.0.1 https://a.test:$S/");
	is($out, "a https a.test c=1 reused=.\n", 'curl with CA: a.test, $scheme https');
	($rc, $out) = sh("curl -s http://127.0.0.1:$H/ -H \"Host: a.test\"");
	is($out, "a http  c=1 reused=.\n", 'same server over plain HTTP: empty ssl variables');
	($rc, $out) = sh("curl -s --cacert ca.crt --resolve a.test:$S:127.0.0.1"
	    . " https://a.test:$S/ https://a.test:$S/ https://a.test:$S/");
	is($out, "a https a.test c=1 reused=.\na https a.test c=2 reused=.\na https a.test c=3 reused=.\n",
	    'keep-alive over TLS: three requests on one connection');
}

# reject_handshake
{
	my ($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$R -servername zz.test </dev/null");
	like($out, qr/unrecognized name|alert/i, 'ssl_reject_handshake: unknown name refused');
	($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$R -noservername </dev/null");
	like($out, qr/unrecognized name|alert/i, 'ssl_reject_handshake: no name refused');
	($rc, $out) = sh("curl -s --cacert ca.crt --resolve a.test:$R:127.0.0.1 https://a.test:$R/");
	is($out, "r-a\n", 'ssl_reject_handshake: a known name is served');
}

# sessions: each try is a new connection; with 4 workers, several land elsewhere
sub resumes {
	my ($port, $proto, $n) = @_;
	my $req = 'printf "GET / HTTP/1.0\r\n\r\n"';
	my ($rc, $out) = sh("$req | openssl s_client -connect 127.0.0.1:$port $proto -ign_eof"
	    . " -sess_out sess$port$proto");
	return -1 unless $out =~ /reused=\./;
	my $ok = 0;
	for (1 .. $n) {
		($rc, $out) = sh("$req | openssl s_client -connect 127.0.0.1:$port $proto -ign_eof"
		    . " -sess_in sess$port$proto");
		$ok++ if $out =~ /reused=r/ && $out =~ /^Reused,/m;
	}
	return $ok;
}
is(resumes($T, '-tls1_3', 8), 8, 'tickets (automatic keys) resume on every worker, TLS 1.3');
is(resumes($T, '-tls1_2', 8), 8, 'tickets (automatic keys) resume on every worker, TLS 1.2');
is(resumes($K, '-tls1_3', 8), 8, 'ssl_session_ticket_key: tickets resume, TLS 1.3');
is(resumes($C, '-tls1_2', 8), 8, 'shared cache without tickets resumes on every worker, TLS 1.2');
is(resumes($C, '-tls1_3', 8), 8, 'shared cache without tickets resumes on every worker, TLS 1.3');
is(resumes($N, '-tls1_2', 4), 0, 'no cache, no tickets: no resumption');

# client certificates
{
	my ($rc, $out) = sh("curl -s --cacert ca.crt --cert client.crt --key client.key"
	    . " --resolve a.test:$M:127.0.0.1 https://a.test:$M/");
	like($out, qr/^m SUCCESS O=portico,CN=client1 fp=[0-9a-f]{40}\n\z/,
	    'ssl_verify_client on: certificate accepted, variables');
	($rc, $out) = sh("curl -s -o /dev/null -w \"%{http_code}\" --cacert ca.crt"
	    . " --resolve a.test:$M:127.0.0.1 https://a.test:$M/");
	is($out, '400', 'ssl_verify_client on: no certificate, 400');
	($rc, $out) = sh("curl -s -o /dev/null -w \"%{http_code}\" --cacert ca.crt --cert rogue.crt"
	    . " --key rogue.key --resolve a.test:$M:127.0.0.1 https://a.test:$M/");
	is($out, '400', 'ssl_verify_client on: unknown issuer, 400');
	ok($t->wait_for_log('logs/error.log', qr/client SSL certificate verify error/, 3),
	    'the verification failure is logged with its reason');
	($rc, $out) = sh("curl -s --cacert ca.crt --resolve a.test:$O:127.0.0.1 https://a.test:$O/");
	is($out, "o NONE\n", 'ssl_verify_client optional: no certificate is fine');
	($rc, $out) = sh("curl -s --cacert ca.crt --cert client.crt --key client.key"
	    . " --resolve a.test:$O:127.0.0.1 https://a.test:$O/");
	is($out, "o SUCCESS\n", 'ssl_verify_client optional: certificate checked');
}

# TLS to upstreams
{
	my ($rc, $out) = sh("curl -s http://127.0.0.1:$H/up/x -H \"Host: a.test\"");
	is($out, "default b.test TLSv1.3 reused=.\n",
	    'proxy_pass https: verified, SNI b.test sent (Host is the proxy_pass host)');
	($rc, $out) = sh("curl -s http://127.0.0.1:$H/noverify/x -H \"Host: a.test\"");
	is($out, "default  TLSv1.3 reused=.\n", 'proxy_pass https without verification or SNI');
	# one client connection (one worker), a new upstream connection per request
	($rc, $out) = sh("curl -s http://127.0.0.1:$H/noverify/1 http://127.0.0.1:$H/noverify/2"
	    . " http://127.0.0.1:$H/noverify/3 -H \"Host: a.test\"");
	like($out, qr/reused=r\n/, 'proxy_ssl_session_reuse: a later upstream connection resumes');
	# TLS 1.3 tickets are single use: each resumed connection must leave
	# a fresh one behind, or every other connection is a full handshake
	($rc, $out) = sh("curl -s " . join(' ', map { "http://127.0.0.1:$H/reuse/$_" } 1 .. 4)
	    . " -H \"Host: a.test\"");
	is(join(' ', $out =~ /reused=(.)/g), '. r r r',
	    'proxy_ssl_session_reuse: three upstream connections in a row after the first all resume');
	($rc, $out) = sh("curl -s -o /dev/null -w \"%{http_code}\" http://127.0.0.1:$H/badname/ -H \"Host: a.test\"");
	is($out, '502', 'proxy_ssl_verify: wrong name, 502');
	ok($t->wait_for_log('logs/error.log', qr/upstream SSL certificate verify error: \(\d+:[^)]*hostname/i, 3),
	    'name mismatch reason logged');
	($rc, $out) = sh("curl -s -o /dev/null -w \"%{http_code}\" http://127.0.0.1:$H/badca/ -H \"Host: a.test\"");
	is($out, '502', 'proxy_ssl_verify: unknown CA, 502');
	ok($t->wait_for_log('logs/error.log', qr/upstream SSL certificate verify error: \(\d+:unable to get local issuer/, 3),
	    'unknown CA reason logged');
	($rc, $out) = sh("curl -s http://127.0.0.1:$H/upka/ http://127.0.0.1:$H/upka/ http://127.0.0.1:$H/upka/"
	    . " -H \"Host: a.test\"");
	my @c = $out =~ /c=(\d+)/g;
	is($c[-1], 3, 'keep-alive cache over TLS: the upstream connection is reused')
	    or diag($out);
}

# a client that stalls mid-handshake is closed at ssl_handshake_timeout (1s)
{
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$S", Timeout => 3);
	# the first bytes of a ClientHello record, then nothing
	print $s "\x16\x03\x01\x02\x00\x01";
	my $t0 = time;
	my $buf;
	$s->blocking(1);
	local $SIG{ALRM} = sub { die "alarm\n" };
	alarm 5;
	my $n = eval { sysread($s, $buf, 100) };
	alarm 0;
	my $el = time - $t0;
	ok(defined $n && $n == 0 && $el > 0.5 && $el < 3.5, sprintf('stalled handshake closed after %.2fs', $el));
}

# a bad certificate fails -t; on reload it keeps the old configuration
{
	(my $bad = $conf) =~ s/ssl_certificate b\.crt;/ssl_certificate bad.crt;/;
	$t->write_file('bad.conf', $bad);
	my ($rc, $out, $err) = $t->run_cmd('-p', "$d/", '-c', 'bad.conf', '-t');
	isnt($rc, 0, 'bad certificate: -t fails');
	like($t->read_file("cmd1.err") . ($err // ''), qr/cannot load certificate "[^"]*bad\.crt"/,
	    '-t names the certificate');
	$t->write_file('portico.conf', $bad);
	$t->signal('HUP');
	ok($t->wait_for_log('logs/error.log', qr/cannot load certificate "[^"]*bad\.crt"/, 5),
	    'reload with a bad certificate is refused and logged');
	sleep 0.5;
	is((peer_cert($S, '-servername b.test'))[0], 'b.test', 'the old certificate keeps serving');
	# now swap b.test for the wildcard's certificate: new connections see it
	(my $swap = $conf) =~ s/ssl_certificate b\.crt;\n(\s*)ssl_certificate_key b\.key;/ssl_certificate w.crt;\n$1ssl_certificate_key w.key;/;
	$t->write_file('portico.conf', $swap);
	# clients keep asking over new TLS connections while the reload happens
	my $load = fork;
	if ($load == 0) {
		my ($good, $failed) = (0, 0);
		my $end = time + 3;
		while (time < $end) {
			my $code = `timeout 5 curl -sk -o /dev/null -w "%{http_code}" --resolve b.test:$S:127.0.0.1 https://b.test:$S/ 2>/dev/null`;
			if ($code eq '200') { $good++ } else { $failed++ }
		}
		open my $fh, '>', "$d/load.out";
		print $fh "$good $failed\n";
		close $fh;
		POSIX::_exit(0);
	}
	sleep 0.5;
	$t->signal('HUP');
	my $got = '';
	Portico::Test::wait_until(sub { $got = (peer_cert($S, '-servername b.test'))[0]; $got eq 'x.wild.test' }, 10);
	is($got, 'x.wild.test', 'reload: the new certificate is served');
	waitpid($load, 0);
	my ($ok, $failed) = split ' ', $t->read_file('load.out');
	ok($ok > 5 && $failed == 0, "no failed request across the certificate reload ($ok ok, $failed failed)");
}

$t->stop;
unlike($t->read_file('logs/error.log'), qr/PRIVATE KEY|BEGIN/, 'no key material in the error log');
done_testing();
