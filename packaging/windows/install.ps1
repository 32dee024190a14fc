#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Installs or upgrades dantesync on Windows from a release zip.

.DESCRIPTION
    1. Checks the zip's SHA-256 against the .sha256 file beside it (as sha256sum writes it);
       a missing or different hash stops here, before anything is changed.
    2. Stops the DanteSync service if it runs (an upgrade), puts dantesync.exe, the docs and
       uninstall.ps1 in "C:\Program Files\DanteSync" (the binary is swapped in one move).
    3. Creates C:\ProgramData\DanteSync and copies the example configuration to config.json
       there only if there is none: an existing configuration, the learned state and the logs
       are never touched.
    4. Registers the service with `dantesync.exe service install --config ...` (automatic
       start, restart on failure, W32Time stopped and disabled, firewall rules, the data
       folder's permissions; running it again changes nothing that is already right) and
       starts it, unless -NoStart.
    5. Adds the install folder to the machine's PATH (for `dantesync status`), once.
    6. The tray app: the per-user Run entry DanteSyncTray (HKCU, the user running this
       script), or for every user of the PC (HKLM) with -TrayForAllUsers; none with -NoTray.
       It starts at the next sign-in (this script runs elevated; a tray started from it would
       run elevated too). A running tray is stopped for an upgrade and starts again at sign-in.

    Run it again with the same or a newer zip to repair or upgrade. uninstall.ps1 undoes it.

.PARAMETER Zip
    The release zip, e.g. dantesync-0.1.0-windows-x86_64.zip. Its hash file must be beside
    it: dantesync-0.1.0-windows-x86_64.zip.sha256.

.PARAMETER InstallDir
    Where the program goes. Default: "$env:ProgramFiles\DanteSync".

.PARAMETER NoStart
    Register the service but do not start it (e.g. to edit the configuration first).

.PARAMETER NoTray
    Do not start the tray app at sign-in (its Run entries are removed if an earlier install
    wrote them; the program file is still installed).

.PARAMETER TrayForAllUsers
    Start the tray app at every user's sign-in (HKLM Run) instead of only this user's.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File .\install.ps1 -Zip .\dantesync-0.1.0-windows-x86_64.zip
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$Zip,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'DanteSync'),
    [switch]$NoStart,
    [switch]$NoTray,
    [switch]$TrayForAllUsers
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName = 'DanteSync'
$DataDir = Join-Path $env:ProgramData 'DanteSync'
$ConfigPath = Join-Path $DataDir 'config.json'
$Exe = Join-Path $InstallDir 'dantesync.exe'
$TrayExe = Join-Path $InstallDir 'dantesync-tray.exe'
$RunKeyUser = 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run'
$RunKeyMachine = 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Run'
$RunValue = 'DanteSyncTray'

function Stop-WithError {
    param([string]$Message)
    [Console]::Error.WriteLine("install.ps1: $Message")
    exit 1
}

function Write-Step {
    param([string]$Message)
    Write-Host "install.ps1: $Message"
}

# The expected hash: the first word of the .sha256 file ("<64 hex digits>  <file name>").
function Get-ExpectedHash {
    param([string]$HashFile)
    if (-not (Test-Path -LiteralPath $HashFile -PathType Leaf)) {
        Stop-WithError "no hash file $HashFile beside the zip: download it with the zip (nothing was changed)"
    }
    # [string]: an empty file reads as $null, which has no Trim().
    $text = ([string](Get-Content -LiteralPath $HashFile -Raw)).Trim()
    $word = ($text -split '\s+')[0]
    if ($word -notmatch '^[0-9A-Fa-f]{64}$') {
        Stop-WithError "$HashFile does not start with a SHA-256 hash (64 hex digits) (nothing was changed)"
    }
    return $word.ToUpperInvariant()
}

function Test-ZipHash {
    param([string]$Path)
    $expected = Get-ExpectedHash -HashFile "$Path.sha256"
    $actual = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToUpperInvariant()
    if ($actual -ne $expected) {
        Stop-WithError ("SHA-256 of $Path is $actual, but $Path.sha256 says $expected`n" +
            "  the download is damaged or not the release: download both again (nothing was changed)")
    }
    Write-Step "SHA-256 checked: $actual"
}

function Stop-DanteSyncService {
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($null -eq $service) {
        return $false
    }
    if ($service.Status -ne 'Stopped') {
        Write-Step "stopping the $ServiceName service for the upgrade"
        Stop-Service -Name $ServiceName -Force
        $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
    }
    return $true
}

# Trays of any user running from the install folder hold the file: stopped before the swap.
function Stop-Tray {
    Get-Process -Name 'dantesync-tray' -ErrorAction SilentlyContinue |
        Where-Object { $_.Path -eq $TrayExe } |
        ForEach-Object {
            Write-Step "stopping the tray app (pid $($_.Id)) for the upgrade; it starts again at sign-in"
            Stop-Process -Id $_.Id -Force
        }
}

function Set-TrayAutostart {
    foreach ($key in @($RunKeyUser, $RunKeyMachine)) {
        Remove-ItemProperty -Path $key -Name $RunValue -ErrorAction SilentlyContinue
    }
    if ($NoTray) {
        Write-Step "the tray app does not start at sign-in (-NoTray)"
        return
    }
    $key = if ($TrayForAllUsers) { $RunKeyMachine } else { $RunKeyUser }
    New-ItemProperty -Path $key -Name $RunValue -PropertyType String -Value ('"' + $TrayExe + '"') -Force | Out-Null
    Write-Step "the tray app starts at sign-in ($key\$RunValue)"
}

function Invoke-DanteSync {
    param([string[]]$Arguments)
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) {
        Stop-WithError "'dantesync.exe $($Arguments -join ' ')' failed (exit $LASTEXITCODE); see above"
    }
}

function Add-ToMachinePath {
    param([string]$Dir)
    $path = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    $parts = @($path -split ';' | Where-Object { $_ -ne '' })
    if ($parts -contains $Dir) {
        return
    }
    [Environment]::SetEnvironmentVariable('Path', (($parts + $Dir) -join ';'), 'Machine')
    Write-Step "added $Dir to the machine's PATH (new shells see it)"
}

# 1. The zip, checked before anything changes.
if (-not (Test-Path -LiteralPath $Zip -PathType Leaf)) {
    Stop-WithError "no file ${Zip}: give the release zip, e.g. -Zip .\dantesync-0.1.0-windows-x86_64.zip"
}
$Zip = (Resolve-Path -LiteralPath $Zip).Path
Test-ZipHash -Path $Zip

$staging = Join-Path ([IO.Path]::GetTempPath()) ("dantesync-install-" + [Guid]::NewGuid().ToString('N'))
try {
    Expand-Archive -LiteralPath $Zip -DestinationPath $staging
    $newExe = Join-Path $staging 'dantesync.exe'
    if (-not (Test-Path -LiteralPath $newExe -PathType Leaf)) {
        Stop-WithError "$Zip has no dantesync.exe at its top level: not a dantesync release zip (nothing was changed)"
    }
    $version = (& $newExe --version) -join ' '
    if ($LASTEXITCODE -ne 0) {
        Stop-WithError "the dantesync.exe in $Zip does not run on this machine (exit $LASTEXITCODE; nothing was changed)"
    }
    # An existing configuration must be one the new version accepts, or the service would not
    # start after the upgrade: checked before anything is stopped.
    if (Test-Path -LiteralPath $ConfigPath) {
        & $newExe config check $ConfigPath | Out-Null
        if ($LASTEXITCODE -ne 0) {
            & $newExe config check $ConfigPath
            Stop-WithError "$ConfigPath is not valid for $version (above); fix it and run install.ps1 again (nothing was changed)"
        }
    }
    Write-Step "installing $version into $InstallDir"

    # 2. Stop (upgrade), then swap the files in.
    $wasInstalled = Stop-DanteSyncService
    Stop-Tray
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Copy-Item -LiteralPath $newExe -Destination "$Exe.new" -Force
    Move-Item -LiteralPath "$Exe.new" -Destination $Exe -Force
    $newTray = Join-Path $staging 'dantesync-tray.exe'
    if (Test-Path -LiteralPath $newTray -PathType Leaf) {
        Copy-Item -LiteralPath $newTray -Destination "$TrayExe.new" -Force
        Move-Item -LiteralPath "$TrayExe.new" -Destination $TrayExe -Force
    }
    foreach ($name in @('config.example.json', 'README.md', 'LICENSE', 'uninstall.ps1', 'install.ps1')) {
        $from = Join-Path $staging $name
        if (Test-Path -LiteralPath $from -PathType Leaf) {
            Copy-Item -LiteralPath $from -Destination (Join-Path $InstallDir $name) -Force
        }
    }

    # 3. The data folder; the configuration only where there is none.
    New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
    if (Test-Path -LiteralPath $ConfigPath) {
        Write-Step "keeping the configuration $ConfigPath"
    } else {
        Copy-Item -LiteralPath (Join-Path $staging 'config.example.json') -Destination $ConfigPath
        Write-Step "created $ConfigPath from the example: set ntp_server there (dantesync config check checks it)"
    }
} finally {
    Remove-Item -LiteralPath $staging -Recurse -Force -ErrorAction SilentlyContinue
}

# 4. The service: registered (again: idempotent), then started.
Invoke-DanteSync -Arguments @('service', 'install', '--config', $ConfigPath)
Add-ToMachinePath -Dir $InstallDir
if (Test-Path -LiteralPath $TrayExe -PathType Leaf) {
    Set-TrayAutostart
}
if ($NoStart) {
    Write-Step "registered, not started (-NoStart): Start-Service $ServiceName"
    exit 0
}
Start-Service -Name $ServiceName
(Get-Service -Name $ServiceName).WaitForStatus('Running', [TimeSpan]::FromSeconds(30))
& $Exe service status
if ($LASTEXITCODE -ne 0) {
    Stop-WithError "the service did not stay running (service status exit $LASTEXITCODE): see $DataDir\logs"
}
if ($wasInstalled) {
    Write-Step "upgraded to $version; configuration and state kept"
} else {
    Write-Step "installed $version; 'dantesync status' shows what it does"
}
