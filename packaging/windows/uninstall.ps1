#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Removes what install.ps1 installed.

.DESCRIPTION
    1. Stops the DanteSync service and removes it with `dantesync.exe service uninstall`
       (which also removes its firewall rules and puts W32Time back as it was before).
    2. Stops the tray app, removes its sign-in entries (DanteSyncTray under HKCU and HKLM Run),
       the install folder ("C:\Program Files\DanteSync") and its PATH entry.
    3. Keeps C:\ProgramData\DanteSync (configuration, learned state, logs) unless -Purge.

    Running it again, or on a machine without dantesync, changes nothing and says so.

.PARAMETER InstallDir
    Where install.ps1 put the program. Default: "$env:ProgramFiles\DanteSync".

.PARAMETER Purge
    Also remove C:\ProgramData\DanteSync: the configuration, the state and the logs.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File "C:\Program Files\DanteSync\uninstall.ps1"
#>
[CmdletBinding()]
param(
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'DanteSync'),
    [switch]$Purge
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName = 'DanteSync'
$DataDir = Join-Path $env:ProgramData 'DanteSync'
$Exe = Join-Path $InstallDir 'dantesync.exe'

function Stop-WithError {
    param([string]$Message)
    [Console]::Error.WriteLine("uninstall.ps1: $Message")
    exit 1
}

function Write-Step {
    param([string]$Message)
    Write-Host "uninstall.ps1: $Message"
}

function Remove-FromMachinePath {
    param([string]$Dir)
    $path = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    $parts = @($path -split ';' | Where-Object { $_ -ne '' })
    if (-not ($parts -contains $Dir)) {
        return
    }
    $kept = @($parts | Where-Object { $_ -ne $Dir })
    [Environment]::SetEnvironmentVariable('Path', ($kept -join ';'), 'Machine')
    Write-Step "removed $Dir from the machine's PATH"
}

# 1. The service: stopped, then unregistered by the program that registered it.
$service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($null -ne $service -and $service.Status -ne 'Stopped') {
    Write-Step "stopping the $ServiceName service"
    Stop-Service -Name $ServiceName -Force
    $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
}
if (Test-Path -LiteralPath $Exe -PathType Leaf) {
    $arguments = @('service', 'uninstall')
    if ($Purge) {
        $arguments += '--purge'
    }
    & $Exe @arguments
    if ($LASTEXITCODE -ne 0) {
        Stop-WithError "'dantesync.exe $($arguments -join ' ')' failed (exit $LASTEXITCODE); nothing else was removed"
    }
} elseif ($null -ne $service) {
    Stop-WithError ("the $ServiceName service is registered but $Exe is gone: reinstall with install.ps1 " +
        "and run uninstall.ps1 again (or -InstallDir for another folder)")
} else {
    Write-Step "no $ServiceName service and no ${Exe}: the program is not installed"
}

# 2. The tray app (running copies and its sign-in entries), the program's folder and its PATH
# entry. This script may run from that folder: it is read
# into memory already, so deleting it is safe.
Get-Process -Name 'dantesync-tray' -ErrorAction SilentlyContinue |
    Where-Object { $_.Path -eq (Join-Path $InstallDir 'dantesync-tray.exe') } |
    ForEach-Object {
        Write-Step "stopping the tray app (pid $($_.Id))"
        Stop-Process -Id $_.Id -Force
    }
foreach ($key in @('HKCU:\Software\Microsoft\Windows\CurrentVersion\Run',
        'HKLM:\Software\Microsoft\Windows\CurrentVersion\Run')) {
    if ($null -ne (Get-ItemProperty -Path $key -Name 'DanteSyncTray' -ErrorAction SilentlyContinue)) {
        Remove-ItemProperty -Path $key -Name 'DanteSyncTray'
        Write-Step "removed the tray app's sign-in entry in $key"
    }
}
Remove-FromMachinePath -Dir $InstallDir
if (Test-Path -LiteralPath $InstallDir) {
    Remove-Item -LiteralPath $InstallDir -Recurse -Force
    Write-Step "removed $InstallDir"
}

# 3. The data: kept unless -Purge (`service uninstall --purge` may have removed it already).
if ($Purge) {
    if (Test-Path -LiteralPath $DataDir) {
        Remove-Item -LiteralPath $DataDir -Recurse -Force
    }
    Write-Step "removed $DataDir (configuration, state, logs)"
} elseif (Test-Path -LiteralPath $DataDir) {
    Write-Step "kept $DataDir (configuration, state, logs); -Purge removes it"
}
Write-Step 'done'
