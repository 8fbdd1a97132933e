# Routing: location precedence as nginx (=, longest prefix, ^~, regex in
# config order, nested, case-insensitive, named), regex captures ($1,
# named) in locations and server_name, rewrite flags and the loop limit,
# set, if conditions, error_page to @named. The same table runs against
# the nginx-dialect file and against its native dump (portico -T).

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $conf = <<'EOF';
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log notice;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;

        # nginx's documentation example
        location = / { return 200 "A\n"; }
        location / { return 200 "B\n"; }
        location /documents/ { return 200 "C\n"; }
        location ^~ /images/ { return 200 "D\n"; }
        location ~* \.(gif|jpg|jpeg)$ { return 200 "E $1\n"; }

        # neighbours
        location = /exact/ { return 200 "exact slash\n"; }
        location /nest/ {
            location ~ \.php$ { return 200 "nested php\n"; }
            location /nest/deep/ { return 200 "nest deep\n"; }
            return 200 "nest\n";
        }
        location ~ \.php$ { return 200 "php\n"; }
        location ^~ /static/ {
            location ~ \.css$ { return 200 "static css\n"; }
            return 200 "static\n";
        }
        location ~ ^/order/ { return 200 "first regex\n"; }
        location ~ ^/order/b { return 200 "second regex\n"; }
        location ~ /CaSe$ { return 200 "case sensitive\n"; }
        location ~ ^/(?<section>[a-z]+)/(\d+)$ { return 200 "named $section num $2\n"; }

        # rewrite
        location /rw/ {
            rewrite ^/rw/last/(\w+)$ /dest/$1 last;
            rewrite ^/rw/break/(\w+)$ /other/$1 break;
            rewrite ^/rw/redirect/(.*)$ /new/$1 redirect;
            rewrite ^/rw/perm/(.*)$ http://example.com/$1 permanent;
            rewrite ^/rw/noargs/(.*)$ /dest/$1? last;
            rewrite ^/rw/addargs/(.*)$ /dest/$1?x=1 last;
            rewrite ^/rw/loop$ /rw/loop last;
            error_page 404 = @fallback;
            return 200 "rw $uri\n";
        }
        location /chain/ {
            rewrite ^/chain/a$ /chain/b;
            rewrite ^/chain/b$ /dest/chained;
        }
        location /dest/ { return 200 "dest $uri args=$args\n"; }

        # set and if
        location /if/ {
            set $who "nobody";
            if ($arg_who) { set $who $arg_who; }
            if ($arg_mode = admin) { return 200 "admin $who\n"; }
            if ($arg_mode != admin) { set $m "user"; }
            if ($http_user_agent ~* ^(curl|wget)/(\S+)) { return 200 "tool $1 $2 $who $m\n"; }
            if ($http_user_agent !~ ^Mozilla) { return 200 "not mozilla $who $m\n"; }
            return 200 "end $who $m\n";
        }

        # error_page to a named location, internal
        location /missing/ { error_page 404 = @fallback; return 404; }
        location /ep/ { error_page 418 =200 @fallback; return 418; }
        location @fallback { return 200 "fallback $uri\n"; }
        location /int/ { internal; return 200 "internal\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name ~^(?<user>[a-z]+)\.users\.test$;
        location / { return 200 "user $user\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name ~^www\.(.+)\.test$;
        location / { return 200 "www of $1\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name exact.users.test;
        location / { return 200 "exact name\n"; }
    }
    # wildcards: the longest leading one wins over config order, then trailing
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name *.wild.test mail.*;
        location / { return 200 "short wildcard\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name *.deep.wild.test mail.deep.*;
        location / { return 200 "long wildcard\n"; }
    }
}
EOF

my @cases = (
	# [ uri, expected "status body" (or a bare status), request field ]
	['/', "200 A\n"],
	['/index.html', "200 B\n"],
	['/documents/document.html', "200 C\n"],
	['/images/1.gif', "200 D\n"],
	['/documents/1.jpg', "200 E jpg\n"],
	['/documents', "200 B\n"],
	['/images', "200 B\n"],
	['/IMAGES/1.GIF', "200 E GIF\n"],
	['/x.gifs', "200 B\n"],
	['/exact', "200 B\n"],
	['/exact/', "200 exact slash\n"],
	['/nest/a.php', "200 nested php\n"],
	['/nest/deep/a.php', "200 nested php\n"],
	['/nest/deep/x', "200 nest deep\n"],
	['/nest/x', "200 nest\n"],
	['/a.php', "200 php\n"],
	['/static/a.css', "200 static css\n"],
	['/static/a.gif', "200 static\n"],
	['/static/a.php', "200 static\n"],
	['/order/b', "200 first regex\n"],
	['/x/CaSe', "200 case sensitive\n"],
	['/x/case', "200 B\n"],
	['/news/42', "200 named news num 42\n"],
	['/rw/last/abc', "200 dest /dest/abc args=\n"],
	['/rw/last/abc?q=1', "200 dest /dest/abc args=q=1\n"],
	# break stops the rewrite directives (return too): no content, 404
	['/rw/break/abc', "200 fallback /other/abc\n"],
	['/rw/noargs/z?q=1', "200 dest /dest/z args=\n"],
	['/rw/addargs/z?q=1', "200 dest /dest/z args=x=1&q=1\n"],
	['/chain/a', "200 dest /dest/chained args=\n"],
	['/rw/other', "200 rw /rw/other\n"],
	['/rw/loop', "500"],
	['/if/?mode=admin&who=bob', "200 admin bob\n"],
	['/if/', "200 tool curl 7.1 nobody user\n", 'User-Agent: curl/7.1'],
	['/if/?who=al', "200 not mozilla al user\n", 'User-Agent: Lynx'],
	['/if/', "200 end nobody user\n", 'User-Agent: Mozilla/5.0'],
	['/missing/x', "200 fallback /missing/x\n"],
	['/ep/x', "200 fallback /ep/x\n"],
	['/int/x', "404"],
);

my @hosts = (
	['bob.users.test', "200 user bob\n"],
	['exact.users.test', "200 exact name\n"],
	['www.example.test', "200 www of example\n"],
	['BOB.Users.TEST', "200 user bob\n"],
	['a.deep.wild.test', "200 long wildcard\n"],
	['a.wild.test', "200 short wildcard\n"],
	['mail.deep.example', "200 long wildcard\n"],
	['mail.example', "200 short wildcard\n"],
	['mail.deep.wild.test', "200 long wildcard\n"],
);

sub run_table {
	my ($t, $label) = @_;
	my $port = $t->port('A');
	for my $c (@cases) {
		my ($uri, $want, $hdr) = @$c;
		my $m = parse_response(http_get($port, $uri,
		    headers => [$hdr // 'User-Agent: test'])) // {};
		my $got = ($m->{status} // 'none') . ' ' . ($m->{body} // '');
		if ($want =~ /^\d+$/) {
			like($got, qr/^$want /, "$label: $uri -> $want");
		} else {
			is($got, $want, "$label: $uri" . ($hdr ? " ($hdr)" : ''));
		}
	}
	for my $h (@hosts) {
		my $m = parse_response(http_get($port, '/', host => $h->[0])) // {};
		is(($m->{status} // 'none') . ' ' . ($m->{body} // ''), $h->[1],
		    "$label: server_name for $h->[0]");
	}
	my $m = parse_response(http_get($port, '/rw/redirect/a?k=v')) // {};
	is($m->{status}, 302, "$label: rewrite redirect: 302");
	like($m->{h}{location} // '', qr{^http://localhost(:$port)?/new/a\?k=v$},
	    "$label: rewrite redirect: absolute Location with arguments");
	$m = parse_response(http_get($port, '/rw/perm/p?k=v')) // {};
	is($m->{status}, 301, "$label: rewrite permanent: 301");
	is($m->{h}{location}, 'http://example.com/p?k=v',
	    "$label: rewrite to a URL keeps arguments");
}

my $t = Portico::Test->new;
$t->write_conf($conf);
$t->run;
run_table($t, 'nginx dialect');
ok($t->wait_for_log('logs/error.log',
    qr/rewrite or internal redirection cycle while processing "\/rw\/loop"/),
    'rewrite loop logged');

SKIP: {
	skip('nginx has no native dialect', @cases + @hosts + 4) if $t->is_nginx;
	my ($rc, $dump) = $t->run_cmd('-p', $t->testdir . '/', '-c', 'portico.conf', '-T');
	$t->stop;
	$dump =~ s/\A.*?(?=^# portico: native)//ms;
	my $tn = Portico::Test->new;
	$tn->{ports} = $t->{ports};
	$tn->write_conf($dump, 'native.conf');
	$tn->{listen} = [['127.0.0.1', $t->port('A')]];
	$tn->run(conf => 'native.conf');
	run_table($tn, 'native dialect');
}

# configuration errors name the file, line and PCRE2's message
SKIP: {
	my $te = Portico::Test->new;
	skip('portico messages', 4) if $te->is_nginx;
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location ~ ^/(unclosed { return 200; }
    }
}
EOF
	my ($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'bad regex: -t fails');
	like(($out // '') . ($err // ''),
	    qr/portico\.conf:5: .*pcre2_compile\(\) failed: .* at offset \d+/,
	    'bad regex: file:line, PCRE2 message and offset');
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location / { return 200 "$undefined_var"; }
    }
}
EOF
	($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'unknown variable: -t fails');
	like(($out // '') . ($err // ''), qr/portico\.conf:5: unknown variable "\$undefined_var"/,
	    'unknown variable: file:line');
}

done_testing;
