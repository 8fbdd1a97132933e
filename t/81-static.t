# Static files: root, alias (prefix and regex with captures), index,
# try_files (file, directory, =CODE, @named, URI with arguments), types
# (inline block and the shipped etc/mime.types), default_type, ETag and
# Last-Modified with If-None-Match / If-Modified-Since (304), Range
# (single, multiple -> multipart/byteranges, unsatisfiable -> 416,
# If-Range), HEAD, large files over sendfile and over pread (sendfile
# off), path traversal and symbolic links (disable_symlinks). The table
# runs against the nginx-dialect file and against its native dump.

use strict;
use warnings;
use Test::More;
use FindBin;
use Portico::Test;

my $conf = <<'EOF';
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;
    include mime.types;
    default_type application/x-unknown;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;
        root html;

        location / { }
        location /pread/ { alias html/; sendfile off; }
        location /al/ { alias html/sub/; }
        location /al { alias html/sub/; }
        location ~ ^/img/(?<name>[a-z]+)\.(png|gif)$ { alias html/sub/$name.$2; }
        location /inline/ {
            types { text/x-inline css; }
            alias html/sub/;
        }
        location /idx/ { index none.html other.html; alias html/idxdir/; }
        location /tf/ {
            try_files $uri $uri/ /fallback.html?from=$uri;
        }
        location /tfcode/ { try_files $uri =410; }
        location /tfnamed/ { try_files /nothing @named; }
        location @named { return 200 "named $uri\n"; }
        location /nosym/ { alias html/; disable_symlinks on; }
        location /noetag/ { alias html/; etag off; max_ranges 0; }
        location /tp/ { alias html/; try_files $uri /index.html; }
        error_page 404 /404.html;
    }
}
EOF

my $t = Portico::Test->new;
my $dir = $t->testdir;

# the document tree
$t->write_file('html/index.html', "index page\n");
$t->write_file('html/404.html', "custom not found\n");
$t->write_file('html/fallback.html', "fallback\n");
$t->write_file('html/sub/a.css', "0123456789abcdefghij");
$t->write_file('html/sub/logo.png', "PNG data");
$t->write_file('html/sub/noext', "no extension");
$t->write_file('html/sub/UPPER.CSS', "upper");
$t->write_file('html/idxdir/other.html', "other index\n");
$t->write_file('html/tf/real.txt', "real file\n");
$t->write_file('html/tf/d/index.html', "tf dir index\n");
$t->write_file('html/emptydir/.keep', '');
unlink "$dir/html/emptydir/.keep";
$t->write_file('secret/passwd', "secret\n");
my $big = join '', map { chr(($_ * 7 + ($_ >> 8)) & 255) } 0 .. (3 * 1024 * 1024 + 17 - 1);
{
	open my $fh, '>', "$dir/html/big.bin" or die;
	binmode $fh;
	print $fh $big;
	close $fh;
}
symlink("$dir/secret/passwd", "$dir/html/link.txt") or die "symlink: $!";
{
	my $src = "$FindBin::Bin/../etc/mime.types";
	open my $in, '<', $src or die "$src: $!";
	local $/;
	my $mt = <$in>;
	close $in;
	$t->write_file('mime.types', $mt);
}
my $mtime = (stat "$dir/html/sub/a.css")[9];

sub resp {
	my ($port, $uri, @h) = @_;
	return parse_response(http_get($port, $uri, headers => [@h])) // {};
}

sub run_table {
	my ($t, $label) = @_;
	my $port = $t->port('A');
	my $m;

	$m = resp($port, '/');
	is("$m->{status} $m->{body}", "200 index page\n", "$label: / serves index.html");
	is($m->{h}{'content-type'}, 'text/html', "$label: type from mime.types");
	$m = resp($port, '/?a=1');
	is($m->{body}, "index page\n", "$label: index with arguments");

	$m = resp($port, '/sub/a.css');
	is($m->{status}, 200, "$label: file 200");
	is($m->{body}, "0123456789abcdefghij", "$label: file body");
	is($m->{h}{'content-type'}, 'text/css', "$label: text/css");
	is($m->{h}{'content-length'}, 20, "$label: Content-Length");
	is($m->{h}{'accept-ranges'}, 'bytes', "$label: Accept-Ranges");
	my $etag = $m->{h}{etag} // '';
	like($etag, qr/^"[0-9a-f]+-14"$/, "$label: ETag mtime-size");
	my $lm = $m->{h}{'last-modified'} // '';
	like($lm, qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, "$label: Last-Modified");

	is(resp($port, '/sub/UPPER.CSS')->{h}{'content-type'}, 'text/css',
	    "$label: extension case-insensitive");
	is(resp($port, '/sub/noext')->{h}{'content-type'}, 'application/x-unknown',
	    "$label: default_type");
	is(resp($port, '/inline/a.css')->{h}{'content-type'}, 'text/x-inline',
	    "$label: inline types block replaces the inherited one");
	is(resp($port, '/inline/logo.png')->{h}{'content-type'}, 'application/x-unknown',
	    "$label: inline types: others get default_type");

	# HEAD
	my $raw = http_get($port, '/sub/a.css', method => 'HEAD');
	$m = parse_response($raw, head => 1) // {};
	is($m->{status}, 200, "$label: HEAD 200");
	is($m->{h}{'content-length'}, 20, "$label: HEAD Content-Length");
	unlike($raw, qr/0123456789/, "$label: HEAD has no body");

	# conditional requests
	$m = resp($port, '/sub/a.css', "If-None-Match: $etag");
	is($m->{status}, 304, "$label: If-None-Match -> 304");
	is($m->{body} // '', '', "$label: 304 without body");
	is($m->{h}{etag}, $etag, "$label: 304 carries the ETag");
	is(resp($port, '/sub/a.css', "If-None-Match: \"x\", W/$etag")->{status}, 304,
	    "$label: weak comparison in a list");
	is(resp($port, '/sub/a.css', 'If-None-Match: "other"')->{status}, 200,
	    "$label: other ETag -> 200");
	is(resp($port, '/sub/a.css', 'If-None-Match: *')->{status}, 304, "$label: * -> 304");
	is(resp($port, '/sub/a.css', "If-Modified-Since: $lm")->{status}, 304,
	    "$label: If-Modified-Since = Last-Modified -> 304");
	is(resp($port, '/sub/a.css', 'If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT')->{status},
	    200, "$label: older If-Modified-Since -> 200");
	is(resp($port, '/sub/a.css', "If-None-Match: \"x\"", "If-Modified-Since: $lm")->{status},
	    200, "$label: If-None-Match wins over If-Modified-Since");
	is(resp($port, '/sub/a.css', 'If-Modified-Since: garbage')->{status}, 200,
	    "$label: invalid date ignored");

	# ranges
	$m = resp($port, '/sub/a.css', 'Range: bytes=2-5');
	is("$m->{status} $m->{body}", "206 2345", "$label: single range");
	is($m->{h}{'content-range'}, 'bytes 2-5/20', "$label: Content-Range");
	is($m->{h}{'content-length'}, 4, "$label: range Content-Length");
	is(resp($port, '/sub/a.css', 'Range: bytes=-3')->{body}, 'hij', "$label: suffix range");
	is(resp($port, '/sub/a.css', 'Range: bytes=15-')->{body}, 'fghij', "$label: open range");
	is(resp($port, '/sub/a.css', 'Range: bytes=18-100')->{body}, 'ij',
	    "$label: range end clamped");
	$m = resp($port, '/sub/a.css', 'Range: bytes=0-1, 10-11,-2');
	is($m->{status}, 206, "$label: multiple ranges 206");
	my ($bnd) = ($m->{h}{'content-type'} // '') =~ /^multipart\/byteranges; boundary=(\S+)$/;
	ok($bnd, "$label: multipart/byteranges with a boundary");
	$bnd //= 'none';
	is($m->{body}, "\r\n--$bnd\r\nContent-Type: text/css\r\nContent-Range: bytes 0-1/20\r\n\r\n01"
	    . "\r\n--$bnd\r\nContent-Type: text/css\r\nContent-Range: bytes 10-11/20\r\n\r\nab"
	    . "\r\n--$bnd\r\nContent-Type: text/css\r\nContent-Range: bytes 18-19/20\r\n\r\nij"
	    . "\r\n--$bnd--\r\n", "$label: multipart body");
	is(length($m->{body}), $m->{h}{'content-length'}, "$label: multipart Content-Length exact");
	$m = resp($port, '/sub/a.css', 'Range: bytes=20-30');
	is($m->{status}, 416, "$label: unsatisfiable -> 416");
	is($m->{h}{'content-range'}, 'bytes */20', "$label: 416 Content-Range");
	is(resp($port, '/sub/a.css', 'Range: bytes=5-2')->{status}, 200,
	    "$label: invalid range ignored");
	is(resp($port, '/sub/a.css', 'Range: items=1-2')->{status}, 200,
	    "$label: other unit ignored");
	is(resp($port, '/sub/a.css', 'Range: bytes=0-1', "If-Range: $etag")->{status}, 206,
	    "$label: If-Range matching ETag");
	is(resp($port, '/sub/a.css', 'Range: bytes=0-1', 'If-Range: "old"')->{status}, 200,
	    "$label: If-Range other ETag -> whole file");
	is(resp($port, '/sub/a.css', 'Range: bytes=0-1', "If-Range: $lm")->{status}, 206,
	    "$label: If-Range date");
	$m = resp($port, '/noetag/sub/a.css', 'Range: bytes=0-1');
	is($m->{status}, 200, "$label: max_ranges 0 ignores Range");
	ok(!defined $m->{h}{etag}, "$label: etag off");
	ok(!defined $m->{h}{'accept-ranges'}, "$label: no Accept-Ranges with max_ranges 0");

	# large files: sendfile and pread, whole and ranges
	for my $p ('/big.bin', '/pread/big.bin') {
		$m = parse_response(http_get($port, $p, timeout => 20)) // {};
		is($m->{status}, 200, "$label: $p 200");
		ok(defined $m->{body} && $m->{body} eq $big, "$label: $p body intact ("
		    . length($m->{body} // '') . ' bytes)');
		$m = resp($port, $p, 'Range: bytes=1000000-1000009,3145720-');
		my $want = substr($big, 1000000, 10);
		my $tail = substr($big, 3145720);
		ok(($m->{body} // '') =~ /\r\n\r\n\Q$want\E\r\n--.*\r\n\r\n\Q$tail\E\r\n--/s,
		    "$label: $p multipart ranges from the file");
	}
	my @ka = http_keepalive($port, ["GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /pread/sub/a.css HTTP/1.1\r\nHost: x\r\n\r\n",
	    "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /sub/a.css HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n"], timeout => 20);
	is(scalar(@ka), 4, "$label: four responses on one connection");
	is(join(' ', map { $_->{status} } @ka), '200 200 200 206', "$label: keep-alive statuses");
	ok(($ka[0]{body} // '') eq $big, "$label: keep-alive: big body intact");
	is($ka[3]{body}, '0', "$label: keep-alive: range after the others");

	# alias
	is(resp($port, '/al/a.css')->{body}, '0123456789abcdefghij', "$label: alias prefix");
	is(resp($port, '/img/logo.png')->{body}, 'PNG data', "$label: alias with regex captures");
	is(resp($port, '/img/logo.png')->{h}{'content-type'}, 'image/png',
	    "$label: regex alias type");
	is(resp($port, '/img/other.png')->{status}, 404, "$label: regex alias missing file");

	# directories and index
	$m = resp($port, '/sub');
	is($m->{status}, 301, "$label: directory without slash -> 301");
	is($m->{h}{location}, "http://localhost:$port/sub/", "$label: 301 Location");
	is(resp($port, '/sub/')->{status}, 403, "$label: directory without index -> 403");
	is(resp($port, '/nodir/')->{body}, "custom not found\n",
	    "$label: missing directory -> 404 (error_page)");
	is(resp($port, '/idx/')->{body}, "other index\n", "$label: second index file");
	is(resp($port, '/missing.txt')->{status}, 404, "$label: missing file 404 kept");
	is(resp($port, '/missing.txt')->{body}, "custom not found\n", "$label: error_page page");
	is(resp($port, '/sub/a.css', 'X: y')->{status}, 200, "$label: still fine");
	$m = parse_response(http($port, "POST /sub/a.css HTTP/1.1\r\nHost: x\r\n"
	    . "Content-Length: 0\r\nConnection: close\r\n\r\n")) // {};
	is($m->{status}, 405, "$label: POST -> 405");

	# try_files
	is(resp($port, '/tf/real.txt')->{body}, "real file\n", "$label: try_files \$uri");
	is(resp($port, '/tf/d')->{body}, "tf dir index\n", "$label: try_files \$uri/ -> index");
	is(resp($port, '/tf/none')->{body}, "fallback\n", "$label: try_files fallback URI");
	is(resp($port, '/tfcode/x')->{status}, 410, "$label: try_files =410");
	is(resp($port, '/tfnamed/x')->{body}, "named /tfnamed/x\n", "$label: try_files \@named");
	is(resp($port, '/tp/nothing')->{body}, "index page\n",
	    "$label: try_files with alias falls back");

	# traversal and symlinks
	for my $bad ('/../secret/passwd', '/%2e%2e/secret/passwd', '/sub/%2E%2E/%2e%2e/secret/passwd',
	    '/sub/a.css%00.png') {
		$m = parse_response(http_get($port, $bad)) // {};
		is($m->{status}, 400, "$label: $bad refused");
	}
	$m = resp($port, '/al../../secret/passwd');
	isnt($m->{status}, 200, "$label: alias traversal refused");
	unlike($m->{body} // '', qr/secret/, "$label: alias traversal: no content");
	is(resp($port, '/al../sub/a.css')->{status}, 403, "$label: alias \"..\" after prefix -> 403");
	is(resp($port, '/link.txt')->{body}, "secret\n", "$label: symlink followed by default");
	is(resp($port, '/nosym/link.txt')->{status}, 403,
	    "$label: disable_symlinks on refuses a link");
	is(resp($port, '/nosym/sub/a.css')->{status}, 200,
	    "$label: disable_symlinks on serves plain files");
}

$t->write_conf($conf);
$t->run;
run_table($t, 'nginx dialect');

SKIP: {
	skip('nginx has no native dialect', 1) if $t->is_nginx;
	my ($rc, $dump) = $t->run_cmd('-p', $t->testdir . '/', '-c', 'portico.conf', '-T');
	$t->stop;
	like($dump, qr/types \{/, 'the dump has the types block');
	$dump =~ s/\A.*?(?=^# portico: native)//ms;
	my $tn = Portico::Test->new;
	$tn->{ports} = $t->{ports};
	$tn->write_conf($dump, 'native.conf');
	system('cp', '-a', "$dir/html", "$dir/secret", $tn->testdir . '/') == 0 or die 'cp';
	symlink($tn->testdir . '/secret/passwd', $tn->testdir . '/html/link.txt');
	$tn->{listen} = [['127.0.0.1', $t->port('A')]];
	$tn->run(conf => 'native.conf');
	run_table($tn, 'native dialect');
}

# configuration errors
SKIP: {
	my $te = Portico::Test->new;
	skip('portico messages', 4) if $te->is_nginx;
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location / { root /a; alias /b/; }
    }
}
EOF
	my ($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'root and alias: -t fails');
	like(($out // '') . ($err // ''), qr/portico\.conf:5: .*"alias" directive is duplicate/,
	    'root and alias: file:line');
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location / { try_files $uri =abc; }
    }
}
EOF
	($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'try_files bad code: -t fails');
	like(($out // '') . ($err // ''), qr/portico\.conf:5: .*invalid code "=abc"/,
	    'try_files bad code: file:line');
}

done_testing;
