# 86-tls-extra.t: the TLS directives t/85 leaves out: an encrypted key
# opened with ssl_password_file (a wrong line first), ssl_dhparam (DHE
# negotiated), ssl_ecdh_curve (only the configured group), ssl_conf_command
# (TLS 1.3 cipher suites), ssl_crl (a revoked client certificate is a
# 400), ssl_stapling_file (the response seen by openssl s_client -status),
# proxy_ssl_certificate (mTLS to an upstream that requires it), and an
# idle upstream TLS connection dropped when the upstream closes it with
# close_notify.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
my $d = $t->testdir;

sub sh {
	my ($cmd) = @_;
	my $out = `cd $d && timeout 15 sh -c '$cmd' 2>&1`;
	return ($? >> 8, $out // '');
}

for my $p ('openssl', 'curl', 'ss') {
	my ($rc) = sh("command -v $p >/dev/null");
	$t->skip_all("$p not found") if $rc != 0;
}

$t->write_file('ca.cnf', <<'EOF');
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 2
policy = policy_any
[policy_any]
commonName = supplied
EOF

my @cmds = (
    'openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca',
    'touch index.txt', 'echo 01 > crlnumber',
    'openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=a.test',
    'printf "subjectAltName=DNS:a.test" > srv.ext',
    'openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.crt',
    'openssl pkey -in srv.key -aes256 -passout pass:s3cret -out srv-enc.key',
    'printf "wrong\ns3cret\n" > pass.txt',
    'openssl req -newkey rsa:2048 -nodes -keyout good.key -out good.csr -subj /CN=good',
    'openssl x509 -req -in good.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out good.crt',
    'openssl req -newkey rsa:2048 -nodes -keyout bad.key -out bad.csr -subj /CN=revoked',
    'openssl x509 -req -in bad.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out bad.crt',
    'openssl ca -batch -config ca.cnf -keyfile ca.key -cert ca.crt -revoke bad.crt',
    'openssl ca -batch -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl -out ca.crl',
    'openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe2048 -out dh.pem',
    'openssl ocsp -issuer ca.crt -cert srv.crt -reqout ocsp.req',
    'openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin ocsp.req -respout ocsp.der',
);
for my $c (@cmds) {
	my ($rc, $out) = sh($c);
	BAIL_OUT("$c: $out") if $rc != 0;
}

$t->write_conf(<<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    upstream idle_tls {
        server 127.0.0.1:%%PORT_U%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_A%% ssl;
        ssl_certificate srv.crt;
        ssl_certificate_key srv-enc.key;
        ssl_password_file pass.txt;
        ssl_dhparam dh.pem;
        ssl_ciphers DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
        ssl_ecdh_curve secp384r1;
        ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;
        ssl_stapling on;
        ssl_stapling_file ocsp.der;
        location / { return 200 "a $ssl_protocol $ssl_cipher\n"; }
    }

    # mTLS with a CRL; also the upstream of the proxy_ssl_certificate test
    server {
        listen 127.0.0.1:%%PORT_M%% ssl;
        ssl_certificate srv.crt;
        ssl_certificate_key srv.key;
        ssl_verify_client on;
        ssl_client_certificate ca.crt;
        ssl_crl ca.crl;
        location / { return 200 "m $ssl_client_verify $ssl_client_s_dn\n"; }
    }

    # an upstream that closes idle connections after 1s (close_notify)
    server {
        listen 127.0.0.1:%%PORT_U%% ssl;
        ssl_certificate srv.crt;
        ssl_certificate_key srv.key;
        keepalive_timeout 1s;
        location / { return 200 "u c=$connection_requests\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_H%%;
        location /mtls/ {
            proxy_pass https://127.0.0.1:%%PORT_M%%/;
            proxy_ssl_certificate good.crt;
            proxy_ssl_certificate_key good.key;
        }
        location /nocert/ {
            proxy_pass https://127.0.0.1:%%PORT_M%%/;
        }
        location /idle/ {
            proxy_pass https://idle_tls/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
$t->run;

my ($A, $M, $U, $H) = map { $t->port($_) } qw(A M U H);
my $req = 'printf "GET / HTTP/1.0\r\n\r\n"';

# ssl_password_file, ssl_conf_command, ssl_ecdh_curve
{
	my ($rc, $out) = sh("curl -sk --tlsv1.3 --curves secp384r1 https://127.0.0.1:$A/");
	is($out, "a TLSv1.3 TLS_CHACHA20_POLY1305_SHA256\n",
	    'encrypted key opened with ssl_password_file; ssl_conf_command sets the TLS 1.3 suites');
	($rc, $out) = sh("$req | openssl s_client -connect 127.0.0.1:$A -tls1_3 -groups secp384r1 -ign_eof");
	like($out, qr/Server Temp Key: ECDH, (secp384r1|P-384)/, 'ssl_ecdh_curve: the configured group is used');
	($rc, $out) = sh("$req | openssl s_client -connect 127.0.0.1:$A -tls1_3 -groups X25519 -ign_eof");
	unlike($out, qr/^a TLSv1/m, 'ssl_ecdh_curve: a client without that group is refused');
}

# ssl_dhparam: DHE with TLS 1.2
{
	my ($rc, $out) = sh("curl -sk --tlsv1.2 --tls-max 1.2 --ciphers DHE-RSA-AES128-GCM-SHA256"
	    . " https://127.0.0.1:$A/");
	is($out, "a TLSv1.2 DHE-RSA-AES128-GCM-SHA256\n", 'ssl_dhparam: DHE negotiated');
}

# ssl_stapling_file
{
	my ($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$A -status </dev/null");
	like($out, qr/OCSP Response Status: successful/, 'ssl_stapling_file: the response is stapled');
	like($out, qr/Cert Status: (good|unknown)/, 'the stapled response is about the certificate');
	($rc, $out) = sh("openssl s_client -connect 127.0.0.1:$M -status -cert good.crt -key good.key </dev/null");
	like($out, qr/OCSP response: no response sent/, 'no stapling where it is not configured');
}

# ssl_crl
{
	my ($rc, $out) = sh("curl -sk --cert good.crt --key good.key https://127.0.0.1:$M/");
	is($out, "m SUCCESS CN=good\n", 'ssl_crl: a certificate that is not revoked is accepted');
	($rc, $out) = sh("curl -sk -o /dev/null -w \"%{http_code}\" --cert bad.crt --key bad.key"
	    . " https://127.0.0.1:$M/");
	is($out, '400', 'ssl_crl: a revoked certificate is a 400');
	ok($t->wait_for_log('logs/error.log', qr/client SSL certificate verify error: \(23:certificate revoked\)/, 3),
	    'the revocation is logged');
}

# proxy_ssl_certificate: mTLS to an upstream
{
	my ($rc, $out) = sh("curl -s http://127.0.0.1:$H/mtls/");
	is($out, "m SUCCESS CN=good\n", 'proxy_ssl_certificate: the upstream accepts the client certificate');
	($rc, $out) = sh("curl -s -o /dev/null -w \"%{http_code}\" http://127.0.0.1:$H/nocert/");
	is($out, '400', 'without proxy_ssl_certificate the upstream refuses the request');
}

# an idle upstream TLS connection closed by the upstream with close_notify
{
	my ($rc, $out) = sh("curl -s http://127.0.0.1:$H/idle/ http://127.0.0.1:$H/idle/");
	is($out, "u c=1\nu c=2\n", 'idle upstream TLS connections are kept alive');
	# the upstream closes it after 1s; the proxy must close its end too
	my $left = '';
	sleep 1.5;
	Portico::Test::wait_until(sub {
		($rc, $left) = sh("ss -Htn state close-wait \"( sport = :$U or dport = :$U )\"");
		$left =~ /\S/ ? 0 : 1;
	}, 5);
	ok($left !~ /\S/, 'the cached connection is closed after the upstream\'s close_notify')
	    or diag($left);
	($rc, $out) = sh("curl -s http://127.0.0.1:$H/idle/");
	is($out, "u c=1\n", 'the next request goes over a new upstream connection');
}

$t->stop;
unlike($t->read_file('logs/error.log'), qr/s3cret|PRIVATE KEY/, 'no password or key in the error log');
done_testing();
